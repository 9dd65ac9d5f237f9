// Local rate limiting (nodemesh LocalRateLimit), shared by every worker of the agent: Envoy's token
// bucket per (limit, key value), decided as the plain-map reference model in the tests
// (test/helpers/ratelimit-model.ts), kept in one SharedArrayBuffer that all workers map, so a limit holds
// exactly across workers. Each bucket is one 64-bit word updated by a compare-and-swap loop (no lock):
// tokens (whole tokens: Envoy's bucket only ever adds whole tokensPerFill) and the last fill as a
// fixed-point count of fill intervals since the bucket's epoch, so one compareExchange moves both.
//
// Table: open addressing over fixed slots (key hash, epoch, bucket word, the limit's parameters). A
// key's hash carries 19 bits of its limit's parameters, so a changed limit gets fresh buckets by itself
// and a reload has nothing to drop; the stale slots go idle and full, and get reused. When a key finds
// neither its slot nor a free one in its probe window, a full bucket in the window is taken over (a full
// idle bucket is what a fresh one is), else the window's first slot (that key then starts full, as an
// evicted key does in the reference model).
import type { LocalRateLimit } from '../config/traffic';
import type { RequestView } from '../route/types';

export type RateDecision = { readonly ok: true } | { readonly ok: false; readonly retryAfterS: number };
export type RateDecisionAll = { readonly ok: true } | { readonly ok: false; readonly retryAfterS: number; readonly limit: LocalRateLimit };

/** Keyed buckets a limit may need (the table is sized for this many per keyed limit). */
export const MAX_BUCKETS_PER_LIMIT = 10_000;

/** Slots probed for a key before one is taken over. */
const PROBE = 16;
// Per slot, in 64-bit words: key hash (0 = free), epoch (ms, a float64), bucket word, the limit's
// maxTokens and tokensPerFill (26 bits each), its fill interval (ms, a float64).
const WORDS = 5;
const H = 0, EPOCH = 1, WORD = 2, PARAMS = 3, INTERVAL = 4;

// Bucket word: bit 62 ready, bits 58..61 incarnation (bumped whenever the slot's epoch or key changes,
// so a compare-and-swap from before such a change fails), bits 26..57 fills since the epoch (rebased
// before it passes 2^31), bits 0..25 tokens.
const TOKEN_BITS = 26n;
const FILL_BITS = 32n;
const INC_SHIFT = TOKEN_BITS + FILL_BITS;
const READY = 1n << 62n;
const TOKEN_MASK = (1n << TOKEN_BITS) - 1n;
const FILL_MASK = (1n << FILL_BITS) - 1n;
const INC_MASK = 15n;
const REBASE_AT = 2 ** 31;
/** Spins on an unready bucket before it is taken for abandoned (a claim is a few stores: microseconds). */
const STUCK_SPINS = 1 << 20;
/** The most tokens a shared bucket holds; a limit above it is held at this many. */
export const MAX_SHARED_TOKENS = Number(TOKEN_MASK);

const OK: { readonly ok: true } = Object.freeze({ ok: true });

interface Ident {
  readonly sigHash: bigint;
  readonly header: string | undefined;
  readonly max: number;
  readonly perFill: number;
  readonly interval: number;
  readonly params: bigint;
}
const idents = new WeakMap<LocalRateLimit, Ident>();

/** 32-bit FNV-1a with a seed. */
function fnv(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function ident(l: LocalRateLimit): Ident {
  let v = idents.get(l);
  if (v === undefined) {
    const key = l.perKey === undefined ? '' : 'header' in l.perKey ? `h:${l.perKey.header}` : 'p';
    const sig = `${l.namespace}/${l.name}|${l.maxTokens}|${l.tokensPerFill}|${l.fillIntervalMs}|${key}|${l.service}|${l.port ?? ''}|${l.route ?? ''}`;
    const header = l.perKey !== undefined && 'header' in l.perKey ? l.perKey.header.toLowerCase() : undefined;
    const max = Math.min(l.maxTokens, MAX_SHARED_TOKENS);
    const perFill = Math.min(l.tokensPerFill, MAX_SHARED_TOKENS);
    const params = (BigInt(max) << TOKEN_BITS) | BigInt(perFill);
    v = { sigHash: BigInt(fnv(sig, 0x9e37) & 0x7ffff), header, max, perFill, interval: Math.max(1, l.fillIntervalMs), params };
    idents.set(l, v);
  }
  return v;
}

/** Slots for LIMITS at MAX_BUCKETS keys each (keyed) or one (unkeyed), at most half full: a power of two. */
export function tableSlotsFor(limits: readonly LocalRateLimit[], maxBucketsPerLimit = MAX_BUCKETS_PER_LIMIT): number {
  let want = PROBE;
  for (const l of limits) want += l.perKey === undefined ? 1 : maxBucketsPerLimit;
  let n = PROBE;
  while (n < want * 2) n *= 2;
  return n;
}

const tokensOf = (w: bigint): number => Number(w & TOKEN_MASK);
const fillsOf = (w: bigint): number => Number((w >> TOKEN_BITS) & FILL_MASK);
const incOf = (w: bigint): bigint => (w >> INC_SHIFT) & INC_MASK;
const pack = (inc: bigint, fills: number, tokens: number): bigint => READY | (inc << INC_SHIFT) | (BigInt(fills) << TOKEN_BITS) | BigInt(tokens);

/** A slot's bucket, as one take read it. */
type Taken = { readonly ok: true; readonly inc: bigint } | { readonly ok: false; readonly retryAfterS: number } | { readonly moved: true; readonly ok: false };

export class SharedRateLimiter {
  /** The table; post it to the workers, each builds a SharedRateLimiter over it. */
  readonly buffer: SharedArrayBuffer;
  private readonly a: BigInt64Array;
  private readonly f: Float64Array;
  private readonly slots: number;

  constructor(opts: { readonly buffer?: SharedArrayBuffer; readonly slots?: number } = {}) {
    const slots = opts.buffer !== undefined ? opts.buffer.byteLength / (8 * WORDS) : (opts.slots ?? PROBE * 64);
    if (!Number.isInteger(slots) || slots < PROBE || (slots & (slots - 1)) !== 0) throw new RangeError(`rate limit table: ${slots} slots is not a power of two of at least ${PROBE}`);
    this.buffer = opts.buffer ?? new SharedArrayBuffer(slots * WORDS * 8);
    this.a = new BigInt64Array(this.buffer);
    this.f = new Float64Array(this.buffer);
    this.slots = slots;
  }

  take(limit: LocalRateLimit, req: RequestView, nowMs: number): RateDecision {
    const id = ident(limit);
    const h = this.keyHash(limit, id, req);
    for (;;) {
      const d = this.takeSlot(id, h, this.slot(h, id, nowMs), nowMs);
      if (!('moved' in d)) return d.ok ? OK : { ok: false, retryAfterS: d.retryAfterS };
    }
  }

  /** All or none: tokens taken before a refusal are given back, so a refused request consumes nothing. */
  takeAll(limits: readonly LocalRateLimit[], req: RequestView, nowMs: number): RateDecisionAll {
    if (limits.length === 0) return OK;
    const taken: { id: Ident; h: bigint; slot: number; inc: bigint }[] = [];
    for (const l of limits) {
      const id = ident(l);
      const h = this.keyHash(l, id, req);
      for (;;) {
        const slot = this.slot(h, id, nowMs);
        const d = this.takeSlot(id, h, slot, nowMs);
        if ('moved' in d) continue;
        if (!d.ok) {
          for (const t of taken) this.giveBack(t.id, t.h, t.slot, t.inc);
          return { ok: false, retryAfterS: d.retryAfterS, limit: l };
        }
        taken.push({ id, h, slot, inc: d.inc });
        break;
      }
    }
    return OK;
  }

  /** Slots whose key hash carries LIMIT's parameters (for tests and gauges). */
  bucketCount(limit: LocalRateLimit): number {
    const sig = ident(limit).sigHash;
    let n = 0;
    for (let i = 0; i < this.slots; i++) {
      const h = Atomics.load(this.a, i * WORDS + H);
      if (h !== 0n && h >> 44n === sig) n++;
    }
    return n;
  }

  private keyHash(limit: LocalRateLimit, id: Ident, req: RequestView): bigint {
    const key = limit.perKey === undefined ? '' : id.header !== undefined ? (req.header(id.header) ?? '') : req.sourcePrincipal;
    const h = (id.sigHash << 44n) | (BigInt(fnv(key, 0x5bd1e995) & 0xfff) << 32n) | BigInt(fnv(key, 0));
    return h === 0n ? 1n : h;
  }

  /** The slot of key H, claimed and initialised full when new. */
  private slot(h: bigint, id: Ident, nowMs: number): number {
    const a = this.a;
    const start = Number(h & BigInt(this.slots - 1));
    for (;;) {
      let full = -1;
      for (let p = 0; p < PROBE; p++) {
        const i = (start + p) & (this.slots - 1);
        let at = Atomics.load(a, i * WORDS + H);
        if (at === 0n) {
          at = Atomics.compareExchange(a, i * WORDS + H, 0n, h);
          if (at === 0n) {
            this.init(i, id, nowMs, 0n);
            return i;
          }
        }
        if (at === h) return i;
        if (full < 0 && this.isFull(i, Atomics.load(a, i * WORDS + WORD), nowMs)) full = i;
      }
      if (this.takeOver(full >= 0 ? full : start, h, id, nowMs, full >= 0)) return full >= 0 ? full : start;
    }
  }

  /** Writes slot I's bucket (full, at NOW_MS) and then publishes it as ready. */
  private init(i: number, id: Ident, nowMs: number, inc: bigint): void {
    this.f[i * WORDS + EPOCH] = nowMs;
    this.f[i * WORDS + INTERVAL] = id.interval;
    Atomics.store(this.a, i * WORDS + PARAMS, id.params);
    Atomics.store(this.a, i * WORDS + WORD, pack(inc, 0, id.max));
  }

  /** Whether bucket word W of slot I is full at NOW_MS (refills counted). */
  private isFull(i: number, w: bigint, nowMs: number): boolean {
    if ((w & READY) === 0n) return false;
    const params = Atomics.load(this.a, i * WORDS + PARAMS);
    const max = Number(params >> TOKEN_BITS), perFill = Number(params & TOKEN_MASK);
    const due = Math.floor((nowMs - this.f[i * WORDS + EPOCH]) / this.f[i * WORDS + INTERVAL]) - fillsOf(w);
    return tokensOf(w) + Math.max(0, due) * perFill >= max;
  }

  /** Moves slot I to key H with a full bucket, unless another worker took from it or moved it first. */
  private takeOver(i: number, h: bigint, id: Ident, nowMs: number, mustBeFull: boolean): boolean {
    const a = this.a;
    const w = Atomics.load(a, i * WORDS + WORD);
    if ((w & READY) === 0n || (mustBeFull && !this.isFull(i, w, nowMs))) return false;
    const inc = (incOf(w) + 1n) & INC_MASK;
    if (Atomics.compareExchange(a, i * WORDS + WORD, w, inc << INC_SHIFT) !== w) return false;
    Atomics.store(a, i * WORDS + H, h);
    this.init(i, id, nowMs, inc);
    return true;
  }

  /** One token from slot I if it still holds key H; `moved` when it no longer does. */
  private takeSlot(id: Ident, h: bigint, i: number, nowMs: number): Taken {
    const a = this.a;
    let spins = 0;
    for (;;) {
      const w = Atomics.load(a, i * WORDS + WORD);
      if ((w & READY) === 0n) {
        // another worker is between the stores of a claim or rebase; one stopped there (terminated) is
        // repaired: the bucket starts over full
        if (++spins >= STUCK_SPINS && Atomics.load(a, i * WORDS + H) === h) this.repair(i, w, id, nowMs);
        continue;
      }
      if (Atomics.load(a, i * WORDS + H) !== h) return { moved: true, ok: false };
      const epoch = this.f[i * WORDS + EPOCH];
      let tokens = tokensOf(w);
      let fills = fillsOf(w);
      const due = Math.floor((nowMs - epoch) / id.interval);
      if (due > fills) {
        tokens = Math.min(id.max, tokens + (due - fills) * id.perFill);
        fills = due;
      }
      if (fills >= REBASE_AT) {
        this.rebase(i, w, epoch + fills * id.interval, tokens);
        continue;
      }
      if (tokens < 1) {
        const wait = epoch + fills * id.interval + id.interval - nowMs;
        return { ok: false, retryAfterS: Math.max(1, Math.ceil(wait / 1000)) };
      }
      if (Atomics.compareExchange(a, i * WORDS + WORD, w, pack(incOf(w), fills, tokens - 1)) === w) return { ok: true, inc: incOf(w) };
    }
  }

  /** Publishes slot I (left unready at W by a worker that stopped mid-write) as a full bucket of ID. */
  private repair(i: number, w: bigint, id: Ident, nowMs: number): void {
    if (Atomics.load(this.a, i * WORDS + WORD) !== w) return;
    this.f[i * WORDS + EPOCH] = nowMs;
    this.f[i * WORDS + INTERVAL] = id.interval;
    Atomics.store(this.a, i * WORDS + PARAMS, id.params);
    Atomics.compareExchange(this.a, i * WORDS + WORD, w, pack((incOf(w) + 1n) & INC_MASK, 0, id.max));
  }

  /** Moves slot I's epoch up to its last fill (fills back to 0), so the fill count never overflows. */
  private rebase(i: number, w: bigint, epoch: number, tokens: number): void {
    const inc = (incOf(w) + 1n) & INC_MASK;
    if (Atomics.compareExchange(this.a, i * WORDS + WORD, w, inc << INC_SHIFT) !== w) return;
    this.f[i * WORDS + EPOCH] = epoch;
    Atomics.store(this.a, i * WORDS + WORD, pack(inc, 0, tokens));
  }

  /** Returns one token to slot I (capped at the limit's maximum) unless the slot moved since the take. */
  private giveBack(id: Ident, h: bigint, i: number, inc: bigint): void {
    const a = this.a;
    for (;;) {
      const w = Atomics.load(a, i * WORDS + WORD);
      if ((w & READY) === 0n || incOf(w) !== inc || Atomics.load(a, i * WORDS + H) !== h) return;
      if (tokensOf(w) >= id.max) return;
      if (Atomics.compareExchange(a, i * WORDS + WORD, w, w + 1n) === w) return;
    }
  }
}
