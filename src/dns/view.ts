// What the node's DNS proxy answers, decided from the mesh view (pure): each service host → its
// addresses, the short forms pods send for Kubernetes Services, and addresses auto-allocated (as Istio
// does) from 240.240.0.0/16 for ServiceEntry hosts that have none, so a connect to them is captured.
import type { MeshConfig, Service } from '../config/model';
import { RCODE_NOERROR, TYPE_A, TYPE_AAAA, type AnswerSpec, type Question } from './wire';

/** Istio's auto-allocation range (ISTIO_META_DNS_AUTO_ALLOCATE): class E, never routed. */
export const AUTO_PREFIX = '240.240.';
/** TTL of answers from the mesh view: short, a config change reaches clients soon. */
export const MESH_TTL = 30;

/** Services that get allocated addresses: ServiceEntries without addresses whose hosts are names. */
function allocatable(s: Service): boolean {
  return s.addresses.length === 0 && s.resolution !== 'NONE' && s.hosts.some((h) => !h.startsWith('*'));
}

/**
 * One stable address per host of an allocatable service: 240.240.X.Y from a hash of the host, moved to
 * the next free one on a collision, hosts taken in sorted order (so the outcome depends only on the set
 * of hosts). .0.0 and .255.255 are skipped.
 */
export function allocate(cfg: MeshConfig): Map<string, string> {
  const hosts = new Set<string>();
  for (const s of cfg.services) if (allocatable(s)) for (const h of s.hosts) if (!h.startsWith('*')) hosts.add(h);
  const taken = new Set<number>();
  const out = new Map<string, string>();
  for (const h of [...hosts].sort()) {
    let n = (fnv1a(h) % 65534) + 1;
    while (taken.has(n)) n = (n % 65534) + 1;
    taken.add(n);
    out.set(h, `${AUTO_PREFIX}${n >> 8}.${n & 0xff}`);
  }
  return out;
}

/** The config with allocated addresses as the services' VIPs (captured and indexed like any other). */
export function withAllocated(cfg: MeshConfig, alloc: ReadonlyMap<string, string>): MeshConfig {
  if (alloc.size === 0) return cfg;
  const services = cfg.services.map((s) => {
    if (!allocatable(s)) return s;
    const addresses = s.hosts.flatMap((h) => (alloc.has(h) ? [alloc.get(h)!] : []));
    return Object.freeze({ ...s, addresses: Object.freeze(addresses) }) as Service;
  });
  return Object.freeze({ ...cfg, services: Object.freeze(services) });
}

/** Host → A records, built once per config. */
export class DnsView {
  private readonly names = new Map<string, readonly string[]>();

  constructor(cfg: MeshConfig, clusterDomain: string) {
    const svc = `.svc.${clusterDomain}`;
    for (const s of cfg.services) {
      // Allocated addresses are one per named host, in host order (withAllocated): each host its own.
      const named = s.hosts.filter((h) => !h.startsWith('*'));
      const auto = s.addresses.length === named.length && s.addresses.every((a) => a.startsWith(AUTO_PREFIX));
      for (const h of s.hosts) {
        const own = auto && named.includes(h) ? [s.addresses[named.indexOf(h)]!] : s.addresses;
        this.add(h, own);
        // <name>.<ns>.svc.<domain> is also asked as <name>.<ns>.svc and <name>.<ns> (search paths, ndots).
        if (h.endsWith(svc)) {
          const short = h.slice(0, -svc.length);
          if (short.split('.').length === 2) (this.add(`${short}.svc`, own), this.add(short, own));
        }
      }
    }
  }

  private add(name: string, addresses: readonly string[]): void {
    if (addresses.length === 0 || this.names.has(name)) return;
    this.names.set(name, addresses);
  }

  /** A records for NAME: exact first, then `*.suffix` from the most specific suffix; undefined = not a mesh host. */
  lookup(name: string): readonly string[] | undefined {
    const exact = this.names.get(name);
    if (exact !== undefined) return exact;
    for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
      const found = this.names.get(`*${name.slice(dot)}`);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  get size(): number {
    return this.names.size;
  }
}

export type Decision = { readonly kind: 'answer'; readonly answer: AnswerSpec } | { readonly kind: 'forward' };

/**
 * A mesh host: A → its addresses; AAAA and other types → NOERROR without records (the client falls back
 * to A). Anything else is forwarded to the node's resolver.
 */
export function decide(view: DnsView, q: Question): Decision {
  const found = q.class === 1 ? view.lookup(q.name) : undefined;
  if (found === undefined) return { kind: 'forward' };
  return { kind: 'answer', answer: { rcode: RCODE_NOERROR, addresses: q.type === TYPE_A ? found : [], ttl: MESH_TTL } };
}

export function typeLabel(type: number): string {
  return type === TYPE_A ? 'A' : type === TYPE_AAAA ? 'AAAA' : 'other';
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
