// DNS resolution of ServiceEntry endpoints, the pure half: which names a config needs resolved, and the
// config with the answers put in as endpoints. The agent applies the result through the same path as
// any config change (compose → kernel maps → mesh plane → index), so a new answer is just a new config.
import { createHash } from 'node:crypto';
import { unroutable } from '../config/formats';
import type { Endpoint, MeshConfig, Service } from '../config/model';
import { reservedUse, type Reserved } from '../config/reserved';

/** Addresses by host name (the latest good answer; absent = not resolved yet). */
export type Answers = ReadonlyMap<string, readonly string[]>;

/** Every host name the config's DNS and DNS_ROUND_ROBIN services need resolved, sorted. */
export function namesToResolve(cfg: MeshConfig): string[] {
  const names = new Set<string>();
  for (const s of cfg.services) for (const e of s.dnsEndpoints ?? []) names.add(e.address);
  return [...names].sort();
}

/** A resolved address left out, and why (for the agent's log). */
export interface Refused {
  readonly service: string;
  readonly name: string;
  readonly address: string;
  readonly reason: string;
}

/**
 * Why ADDRESS cannot be an endpoint of S, or undefined: what a listed endpoint address may not be
 * (unroutable, or the agent's own port on loopback or the node address, which would loop a connection
 * back into the agent), checked for each port of the service as the endpoint would be dialled.
 */
export function refusedAddress(s: Service, e: Endpoint, address: string, reserved: Reserved | undefined): string | undefined {
  const why = unroutable(address);
  if (why !== undefined) return why;
  if (reserved === undefined) return undefined;
  for (const p of s.ports) {
    const use = reservedUse(reserved, address, e.ports[p.name] ?? p.targetPort);
    if (use !== undefined) return `${use}: port ${p.name} of the service would loop back into the agent`;
  }
  return undefined;
}

/**
 * The config with each named endpoint replaced by the addresses its name resolved to: DNS keeps all of
 * them (one endpoint each, as Envoy's STRICT_DNS), DNS_ROUND_ROBIN the first (as Envoy's LOGICAL_DNS,
 * which connects to one address of the latest answer). Endpoints given as addresses stay first; a name
 * not resolved yet contributes nothing. An address that a listed endpoint could not have (see
 * refusedAddress) is left out and passed to REFUSED. The hash covers the answers used, so a changed
 * answer is a new config and an unchanged one is not.
 */
export function withResolved(cfg: MeshConfig, answers: Answers, reserved?: Reserved, refused?: (r: Refused) => void): MeshConfig {
  if (!cfg.services.some((s) => (s.dnsEndpoints?.length ?? 0) > 0)) return cfg;
  const h = createHash('sha256').update(cfg.source.hash);
  const services = cfg.services.map((s) => {
    const named = s.dnsEndpoints ?? [];
    if (named.length === 0) return s;
    const endpoints = [...s.endpoints];
    const seen = new Set(endpoints.map(key));
    for (const e of named) {
      const all = (answers.get(e.address) ?? []).filter((address) => {
        const reason = refusedAddress(s, e, address, reserved);
        if (reason !== undefined) refused?.({ service: s.key, name: e.address, address, reason });
        return reason === undefined;
      });
      const use = s.resolution === 'DNS_ROUND_ROBIN' ? all.slice(0, 1) : all;
      h.update(`${s.key}\0${e.address}\0${use.join(',')}\0`);
      for (const address of use) {
        const ep: Endpoint = Object.freeze({ ...e, address });
        if (!seen.has(key(ep))) (seen.add(key(ep)), endpoints.push(ep));
      }
    }
    return Object.freeze({ ...s, endpoints: Object.freeze(endpoints) }) as Service;
  });
  return Object.freeze({ ...cfg, services: Object.freeze(services), source: Object.freeze({ ...cfg.source, hash: `${cfg.source.hash}:dns:${h.digest('hex').slice(0, 16)}` }) });
}

function key(e: Endpoint): string {
  return `${e.address} ${JSON.stringify(e.ports)}`;
}

/** The next refresh of an answer: its smallest TTL, kept within [floor, ceiling] (seconds → ms). */
export function refreshDelayMs(ttls: readonly number[], floorMs: number, ceilingMs: number): number {
  const ttl = ttls.length === 0 ? 0 : Math.min(...ttls) * 1000;
  return Math.min(ceilingMs, Math.max(floorMs, ttl));
}

/** The same set of addresses (an answer's order changes with each server rotation; that is no change). */
export function sameAddresses(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}
