// Maglev (Google's Maglev paper, Envoy MAGLEV): a lookup table of prime size M where each target fills
// slots in the order of its own permutation (offset and skip from two independent hashes of its key),
// taking turns in proportion to weight. Lookups are one modulo; a change of targets moves few keys.
import { pickRandom, type Algorithm, type Healthy, type PickEnv, type PickInput } from './algorithm';
import { hash32, SEED2 } from './hash';
import { targetsSignature } from './ring';
import { weightOf, type Target } from './target';

export const DEFAULT_MAGLEV_SIZE = 65537;
/** Envoy's largest accepted table size. */
export const MAX_MAGLEV_SIZE = 5000011;

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** The table size to use: `size` when prime, else the next prime (Envoy rejects non-primes). */
export function maglevSize(size: number): number {
  let m = Math.min(MAX_MAGLEV_SIZE, Math.max(2, Math.floor(size) || DEFAULT_MAGLEV_SIZE));
  while (!isPrime(m)) m++;
  return m;
}

/** Builds the table: entry = index of the owning target; -1 only when there are no targets. */
export function buildMaglevTable(targets: readonly Target[], m: number): Int32Array {
  const n = targets.length;
  const table = new Int32Array(n === 0 ? 0 : m).fill(-1);
  if (n === 0) return table;
  const pos = new Float64Array(n);
  const skip = new Float64Array(n);
  const weight = new Float64Array(n);
  const due = new Float64Array(n);
  let max = 0;
  for (const t of targets) max = Math.max(max, weightOf(t));
  for (let i = 0; i < n; i++) {
    const key = targets[i]!.key;
    pos[i] = hash32(key) % m;
    skip[i] = (hash32(key, SEED2) % (m - 1)) + 1;
    weight[i] = weightOf(targets[i]!) / max;
  }
  let filled = 0;
  // Each round the heaviest target takes a slot, so at most m rounds; a lighter one takes a slot
  // every (max / weight) rounds.
  for (let round = 1; filled < m; round++) {
    for (let i = 0; i < n && filled < m; i++) {
      if (round * weight[i]! < due[i]!) continue;
      due[i] = due[i]! + 1;
      // m is prime and skip in [1, m): the permutation visits every slot, so a free one is found.
      let c = pos[i]!;
      while (table[c] !== -1) c = (c + skip[i]!) % m;
      table[c] = i;
      pos[i] = (c + skip[i]!) % m;
      filled++;
    }
  }
  return table;
}

export class Maglev implements Algorithm {
  readonly size: number;
  private built: readonly Target[] | undefined;
  private sig = '';
  /** Times the structure was built (tests check it is rebuilt only when the targets change). */
  builds = 0;
  private table: Int32Array = new Int32Array(0);

  constructor(size = DEFAULT_MAGLEV_SIZE) {
    this.size = maglevSize(size);
  }

  update(targets: readonly Target[]): void {
    this.built = targets;
    const sig = targetsSignature(targets);
    if (sig === this.sig && this.table.length > 0) return;
    this.sig = sig;
    this.builds++;
    this.table = buildMaglevTable(targets, this.size);
  }

  pick(targets: readonly Target[], healthy: Healthy, input: PickInput, env: PickEnv): number {
    if (targets !== this.built) this.update(targets);
    const key = input.hashKey;
    const m = this.table.length;
    if (key === undefined || m === 0) return pickRandom(targets.length, healthy, env.random);
    const slot = hash32(key) % m;
    if (healthy === undefined) return this.table[slot]!;
    // Walk on to the next slot of a healthy target.
    for (let k = 0; k < m; k++) {
      const o = this.table[(slot + k) % m]!;
      if (healthy(o)) return o;
    }
    return -1;
  }
}
