// Ring hash (Envoy RING_HASH, ketama style): each target sits at many points of a 32-bit ring, at the
// hashes of `${key}_${i}`; a request's hash key goes to the first point at or after its own hash.
// Points depend only on the target itself, so removing one target moves exactly the keys it owned.
import { pickRandom, type Algorithm, type Healthy, type PickEnv, type PickInput } from './algorithm';
import { hash32 } from './hash';
import { weightOf, type Target } from './target';

/** Envoy's maximum_ring_size default. */
export const MAX_RING_SIZE = 1 << 23;
export const DEFAULT_RING_SIZE = 1024;

/** Identity of a target list for the hashing algorithms: keys and weights in order. */
export function targetsSignature(targets: readonly Target[]): string {
  let s = '';
  for (const t of targets) s += `${t.key}*${weightOf(t)},`;
  return s;
}

/**
 * Points per unit of weight: the smallest power of two giving at least `minSize` points in all (Istio's
 * minimumRingSize), within MAX_RING_SIZE. A power of two changes only when the total weight crosses a
 * power-of-two boundary, so adding or removing a target usually leaves every other target's points
 * alone (Envoy rescales every target on each change, remapping keys between the survivors too).
 */
export function pointsPerWeight(minSize: number, totalWeight: number): number {
  let p = 2 ** Math.ceil(Math.log2(Math.max(1, minSize) / totalWeight));
  while (p > 2 ** -30 && p * totalWeight > MAX_RING_SIZE) p /= 2;
  return p;
}

/** Index of the first entry of the sorted `hashes` that is >= h (hashes.length when none). */
function lowerBound(hashes: Uint32Array, h: number): number {
  let lo = 0;
  let hi = hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (hashes[mid]! < h) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class RingHash implements Algorithm {
  private built: readonly Target[] | undefined;
  private sig = '';
  /** Times the structure was built (tests check it is rebuilt only when the targets change). */
  builds = 0;
  private hashes: Uint32Array = new Uint32Array(0);
  private owners: Int32Array = new Int32Array(0);

  constructor(private readonly minSize = DEFAULT_RING_SIZE) {}

  /** Ring size (for stats and tests). */
  get size(): number {
    return this.hashes.length;
  }

  update(targets: readonly Target[]): void {
    this.built = targets;
    const sig = targetsSignature(targets);
    if (sig === this.sig && this.hashes.length > 0) return;
    this.sig = sig;
    this.builds++;
    this.build(targets);
  }

  pick(targets: readonly Target[], healthy: Healthy, input: PickInput, env: PickEnv): number {
    if (targets !== this.built) this.update(targets);
    const key = input.hashKey;
    const len = this.hashes.length;
    if (key === undefined || len === 0) return pickRandom(targets.length, healthy, env.random);
    let p = lowerBound(this.hashes, hash32(key));
    if (p === len) p = 0;
    if (healthy === undefined) return this.owners[p]!;
    // Walk on to the next point of a healthy target: the same as a ring without the unhealthy ones.
    for (let k = 0; k < len; k++) {
      const o = this.owners[(p + k) % len]!;
      if (healthy(o)) return o;
    }
    return -1;
  }

  private build(targets: readonly Target[]): void {
    const n = targets.length;
    let total = 0;
    for (const t of targets) total += weightOf(t);
    const per = n === 0 ? 0 : pointsPerWeight(this.minSize, total);
    const counts = targets.map((t) => Math.max(1, Math.round(per * weightOf(t))));
    const size = n === 0 ? 0 : counts.reduce((a, b) => a + b, 0);
    // Sort (hash, owner) pairs packed into one float: hash * 2^21 + owner stays below 2^53 (owner
    // indices fit 21 bits: two million endpoints, far beyond any service).
    const packed = new Float64Array(size);
    let j = 0;
    for (let i = 0; i < n; i++) {
      const key = targets[i]!.key;
      for (let c = 0; c < counts[i]!; c++) packed[j++] = hash32(`${key}_${c}`) * 2 ** 21 + i;
    }
    packed.sort();
    this.hashes = new Uint32Array(size);
    this.owners = new Int32Array(size);
    for (let k = 0; k < size; k++) {
      const v = packed[k]!;
      const owner = v % 2 ** 21;
      this.owners[k] = owner;
      this.hashes[k] = (v - owner) / 2 ** 21;
    }
  }
}
