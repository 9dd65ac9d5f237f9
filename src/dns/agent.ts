// The agent's DNS part, composed: ServiceEntry names resolved into endpoints and addresses allocated for
// hosts without any (both completing each composed config before it is applied, so they reach the
// kernel maps, the balancer and the index by the one config path), and the node's DNS proxy.
import { getServers } from 'node:dns';
import type { Registry } from 'prom-client';
import type { MeshConfig } from '../config/model';
import { DEFAULT_AGENT_PORTS, agentReserved, type Reserved } from '../config/reserved';
import { logger } from '../log';
import { HostResolver } from './resolver';
import { namesToResolve, withResolved } from './resolved';
import { DnsServer } from './server';
import { DnsView, allocate, withAllocated } from './view';

const log = logger('dns');

/** Istio's ztunnel DNS proxy port. */
export const DNS_PORT = 15053;

export interface DnsAgentOptions {
  /** The proxy runs only with capture (without it nothing sends pods' DNS there). */
  readonly capture: boolean;
  readonly nodeIp: string;
  readonly clusterDomain: string;
  readonly dnsPort?: number;
  readonly dnsUpstream?: readonly string[];
  readonly dnsProxy?: boolean;
  readonly dnsRefreshFloorMs?: number;
  /** The agent's own listeners, which no resolved address may name (defaults: the agent's defaults). */
  readonly adminHost?: string;
  readonly outboundPort?: number;
  readonly tunnelPort?: number;
  readonly metricsPort?: number;
  readonly readyPort?: number;
}

/** What the agent's flags reserve (src/config/reserved.ts), from the options it passes. */
export function dnsReserved(o: DnsAgentOptions): Reserved {
  const d = DEFAULT_AGENT_PORTS;
  return agentReserved({
    nodeIp: o.nodeIp,
    adminHost: o.adminHost ?? '0.0.0.0',
    outboundPort: o.outboundPort ?? d.outbound,
    tunnelPort: o.tunnelPort ?? d.tunnel,
    metricsPort: o.metricsPort ?? d.metrics,
    readyPort: o.readyPort ?? d.ready,
  });
}

export interface AgentDns {
  complete(cfg: MeshConfig): MeshConfig;
  applied(cfg: MeshConfig): void;
  listen(): Promise<void>;
  stop(): void;
  /** Where the DNS proxy listens (undefined: off or not bound). */
  address(): { address: string; port: number } | undefined;
}

/** The node's resolvers (from /etc/resolv.conf), IPv4 only, as "ip" or "ip:port". */
export function systemResolvers(): string[] {
  return getServers().filter((s) => /^\d+\.\d+\.\d+\.\d+(:\d+)?$/.test(s));
}

export function startDns(o: DnsAgentOptions, registry: Registry, changed: () => void): AgentDns {
  const upstream = o.dnsUpstream ?? systemResolvers();
  const proxy = o.dnsProxy !== false && o.capture;
  const resolver = new HostResolver({ servers: o.dnsUpstream ?? [], onChange: changed, registry, ...(o.dnsRefreshFloorMs !== undefined ? { floorMs: o.dnsRefreshFloorMs } : {}) });
  const reserved = dnsReserved(o);
  // Each refused address is logged once while it keeps being answered.
  let refusedNow = new Set<string>();
  let view: DnsView | undefined;
  let bound: { address: string; port: number } | undefined;
  const server = proxy ? new DnsServer({ host: o.nodeIp, port: o.dnsPort ?? DNS_PORT, upstream, view: () => view, registry }) : undefined;
  return {
    complete(cfg) {
      resolver.want(namesToResolve(cfg));
      const seen = new Set<string>();
      const resolved = withResolved(cfg, resolver.answers(), reserved, (r) => {
        const key = `${r.service} ${r.name} ${r.address}`;
        if (!refusedNow.has(key) && !seen.has(key)) log.warn({ service: r.service, host: r.name, address: r.address }, `${r.name} resolved to ${r.address}, which is left out of ${r.service}: ${r.reason}`);
        seen.add(key);
      });
      refusedNow = seen;
      return proxy ? withAllocated(resolved, allocate(resolved)) : resolved;
    },
    applied(cfg) {
      if (proxy) view = new DnsView(cfg, o.clusterDomain);
    },
    async listen() {
      if (server === undefined) return;
      try {
        bound = await server.start();
      } catch (e) {
        // Not fatal: the mesh works without the DNS proxy (pods keep their own resolver).
        log.warn({ err: e, port: o.dnsPort ?? DNS_PORT }, 'the DNS proxy cannot listen; running without it');
      }
    },
    stop() {
      resolver.stop();
      server?.close();
    },
    address: () => bound,
  };
}
