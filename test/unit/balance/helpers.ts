// Shared fixtures for the balancing tests: a service with endpoints, targets, scripted randomness.
import type { Addr } from '../../../src/capture/types';
import type { Endpoint, Service, ServicePort } from '../../../src/config/model';
import type { PickEnv } from '../../../src/balance/algorithm';
import { DEFAULT_EWMA, LoadState } from '../../../src/balance/load';
import { buildTargets, type Target } from '../../../src/balance/target';

export const PORT: ServicePort = { number: 80, name: 'http', protocol: undefined, targetPort: 8080 };

export interface EpSpec {
  readonly address: string;
  readonly labels?: Record<string, string>;
  readonly weight?: number;
}

export function makeService(eps: readonly (string | EpSpec)[], key = 'ns/svc'): Service {
  const endpoints: Endpoint[] = eps.map((e) => {
    const s = typeof e === 'string' ? { address: e } : e;
    return { address: s.address, ports: {}, labels: s.labels ?? {}, namespace: 'ns', serviceAccount: undefined, workload: s.address, node: undefined, weight: s.weight ?? 1 };
  });
  const [namespace, name] = key.split('/') as [string, string];
  return { key, id: 1, name, namespace, hosts: [`${name}.${namespace}.svc.cluster.local`], addresses: ['10.96.0.1'], ports: [PORT], dataplane: 'proxy', endpoints, labels: {} };
}

export function upstreamsOf(service: Service): Addr[] {
  return service.endpoints.map((e) => ({ address: e.address, port: PORT.targetPort }));
}

export function targetsOf(eps: readonly (string | EpSpec)[]): Target[] {
  const s = makeService(eps);
  return buildTargets(s, PORT, upstreamsOf(s));
}

/** "10.0.0.1" … "10.0.0.N". */
export function addrs(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}`);
}

/** Returns the given values in order, then repeats them. */
export function scripted(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

/** Deterministic PRNG (mulberry32) for statistical tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function env(n: number, random: () => number, opts: { now?: number; loads?: LoadState[] } = {}): PickEnv {
  return { random, now: opts.now ?? 0, loads: opts.loads ?? Array.from({ length: n }, () => new LoadState()), ewma: DEFAULT_EWMA };
}

export function load(active: number, ewma?: number, stamp = 0): LoadState {
  const s = new LoadState();
  s.active = active;
  if (ewma !== undefined) {
    s.ewma = ewma;
    s.measured = true;
    s.stamp = stamp;
  }
  return s;
}
