// The load-balancing algorithms behind one interface, each a small pure decider: given the targets, a
// health test and the request's input, which index. Randomness, time and per-target load come in
// through PickEnv so tables of scripted choices can test them. Consistent hashing is in ring.ts and
// maglev.ts; cluster.ts's `createAlgorithm` chooses by DestinationRule loadBalancer.
import type { LoadBalancer } from '../config/traffic';
import { peakEwmaCost, type EwmaOptions, type LoadState } from './load';
import type { Target } from './target';

/** What the request contributes to the choice. */
export interface PickInput {
  /** Consistent-hash key (header, cookie, source ip or query value, extracted by the caller). */
  readonly hashKey?: string;
  /** PASSTHROUGH: the address the client dialled ("ip" or "ip:port"). */
  readonly originalDst?: string;
  /** Target keys this request already tried: avoided while another healthy target exists. */
  readonly exclude?: ReadonlySet<string>;
}

/** Index predicate; undefined = every index qualifies (the allocation-free common case). */
export type Healthy = ((index: number) => boolean) | undefined;

export interface PickEnv {
  /** [0, 1). */
  readonly random: () => number;
  readonly now: number;
  /** Load of targets[i], aligned with the targets list. */
  readonly loads: readonly LoadState[];
  readonly ewma: EwmaOptions;
}

export interface Algorithm {
  /** The target list changed (content or order): rebuild whatever depends on it. */
  update?(targets: readonly Target[]): void;
  /** An index of `targets` passing `healthy`, or -1 when none does. */
  pick(targets: readonly Target[], healthy: Healthy, input: PickInput, env: PickEnv): number;
}

/** Uniform integer in [0, m), safe against a random() that returns 1. */
export function randomBelow(m: number, random: () => number): number {
  return Math.min(m - 1, Math.floor(random() * m));
}

/** A uniformly random index among those passing `healthy`; -1 when none. */
export function pickRandom(n: number, healthy: Healthy, random: () => number): number {
  if (n <= 0) return -1;
  if (healthy === undefined) return randomBelow(n, random);
  let m = 0;
  for (let i = 0; i < n; i++) if (healthy(i)) m++;
  if (m === 0) return -1;
  let r = randomBelow(m, random);
  for (let i = 0; i < n; i++) if (healthy(i) && r-- === 0) return i;
  return -1;
}

/**
 * Power of two choices (Envoy least request, Finagle P2C): two distinct random candidates among the
 * healthy, the cheaper wins, a tie goes to the first. Cheap, and avoids herding onto one "best" target.
 */
export function pickP2C(n: number, healthy: Healthy, random: () => number, cost: (i: number) => number): number {
  let idx: number[] | undefined;
  let m = n;
  if (healthy !== undefined) {
    idx = [];
    for (let i = 0; i < n; i++) if (healthy(i)) idx.push(i);
    m = idx.length;
  }
  if (m <= 0) return -1;
  if (m === 1) return idx === undefined ? 0 : idx[0]!;
  const a = randomBelow(m, random);
  let b = randomBelow(m - 1, random);
  if (b >= a) b++;
  const ia = idx === undefined ? a : idx[a]!;
  const ib = idx === undefined ? b : idx[b]!;
  return cost(ib) < cost(ia) ? ib : ia;
}

/** The existing round robin: the first healthy index at or after the cursor. */
export class RoundRobin implements Algorithm {
  private cursor = 0;

  pick(targets: readonly Target[], healthy: Healthy): number {
    const n = targets.length;
    if (n === 0) return -1;
    const start = this.cursor % n;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      if (healthy === undefined || healthy(i)) {
        this.cursor = (i + 1) % n;
        return i;
      }
    }
    return -1;
  }
}

export class RandomPick implements Algorithm {
  pick(targets: readonly Target[], healthy: Healthy, _input: PickInput, env: PickEnv): number {
    return pickRandom(targets.length, healthy, env.random);
  }
}

export class LeastRequest implements Algorithm {
  pick(targets: readonly Target[], healthy: Healthy, _input: PickInput, env: PickEnv): number {
    const loads = env.loads;
    return pickP2C(targets.length, healthy, env.random, (i) => loads[i]!.active);
  }
}

/** P2C on latency estimate × (active + 1) (see load.ts). */
export class PeakEwma implements Algorithm {
  pick(targets: readonly Target[], healthy: Healthy, _input: PickInput, env: PickEnv): number {
    const { loads, now, ewma } = env;
    return pickP2C(targets.length, healthy, env.random, (i) => peakEwmaCost(loads[i]!, now, ewma));
  }
}

/**
 * PASSTHROUGH: the endpoint the client dialled, when it is one of the targets. A connection captured
 * on a service VIP has the VIP as its original destination, which is no endpoint; there the choice
 * falls back to a random endpoint (what the client's own kube-proxy-style resolution would do).
 */
export class Passthrough implements Algorithm {
  pick(targets: readonly Target[], healthy: Healthy, input: PickInput, env: PickEnv): number {
    const dst = input.originalDst;
    if (dst !== undefined) {
      for (let i = 0; i < targets.length; i++) {
        const t = targets[i]!;
        if ((t.key === dst || t.addr.address === dst) && (healthy === undefined || healthy(i))) return i;
      }
    }
    return pickRandom(targets.length, healthy, env.random);
  }
}

/** Two loadBalancer settings build the same algorithm (a reload keeps its state: cursor, ring). */
export function sameLoadBalancer(a: LoadBalancer | undefined, b: LoadBalancer | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return algorithmKind(a) === 'ROUND_ROBIN' && algorithmKind(b) === 'ROUND_ROBIN';
  return JSON.stringify(a) === JSON.stringify(b);
}

export type AlgorithmKind = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'PASSTHROUGH' | 'PEAK_EWMA' | 'RING_HASH' | 'MAGLEV';

/** No loadBalancer = round robin (Istio's default is LEAST_REQUEST; nodemesh keeps round robin). */
export function algorithmKind(lb: LoadBalancer | undefined): AlgorithmKind {
  if (lb === undefined) return 'ROUND_ROBIN';
  return 'simple' in lb ? lb.simple : lb.consistentHash.algorithm;
}
