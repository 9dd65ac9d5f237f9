// One coarse clock for every deadline of the proxy. A connection registers once and then only sets a
// number per phase (idle, headers, request, connect); a single interval expires what is due. Versus a
// timer per request this costs no allocation and no callback per request; the price is up to one tick
// of lateness, which the tick size bounds.
//
// Items sit in a hashed timing wheel by the tick their deadline falls in, so a sweep touches only the
// items whose bucket came round, never every connection: ten thousand idle or slow clients cost the
// sweep nothing until their own deadlines. Placement is lazy: a deadline moved later (the common case:
// idle pushed back by the next request) leaves the item where it is, and it is moved when its old bucket
// comes round; only a deadline moved earlier, or armed from 0, must be told with add().
import { performance } from 'node:perf_hooks';
import { logger } from '../log';
import type { Timeouts } from './timeouts';

const log = logger('deadlines');

export interface Expiring {
  /** performance.now() time at which expire() is due; 0 = none. */
  deadline: number;
  expire(now: number): void;
}

/** Buckets of the wheel: a revolution is WHEEL ticks (about 17 minutes at 250 ms). */
const WHEEL = 4096;
/** Largest tick: a deadline fires at most this late (the headers and idle timeouts are exact to it). */
export const MAX_TICK_MS = 250;

/** Tick: a quarter of the shortest configured timeout, within [10 ms, MAX_TICK_MS]. */
export function tickFor(t: Timeouts): number {
  const all = [t.connectMs, t.requestMs, t.headersMs, t.downstreamRequestMs, t.downstreamIdleMs, t.upstreamIdleMs, t.tcpIdleMs].filter((v) => v > 0);
  const min = all.length === 0 ? 4 * MAX_TICK_MS : Math.min(...all);
  return Math.max(10, Math.min(MAX_TICK_MS, Math.floor(min / 4)));
}

export class Deadlines {
  /** Registered items → the absolute tick whose bucket holds them (0: in no bucket). */
  private readonly items = new Map<Expiring, number>();
  private readonly buckets: (Set<Expiring> | undefined)[] = new Array<Set<Expiring> | undefined>(WHEEL);
  private readonly sweepers: ((now: number) => void)[] = [];
  /** The last tick whose bucket was swept whole; NaN before the first sweep. */
  private last = Number.NaN;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly tickMs: number) {
    this.timer = setInterval(() => this.tick(), tickMs);
    // Deadlines never keep the process alive on their own.
    this.timer.unref();
  }

  now(): number {
    return performance.now();
  }

  /**
   * Registers ITEM, or tells the clock its deadline changed. Needed after a deadline was set from 0 or
   * moved earlier outside expire(); a later deadline is found on its own, and so is any set in expire().
   */
  add(item: Expiring): void {
    if (!this.items.has(item)) this.items.set(item, 0);
    this.reschedule(item);
  }

  delete(item: Expiring): void {
    const at = this.items.get(item);
    if (at === undefined) return;
    this.items.delete(item);
    if (at !== 0) this.buckets[at % WHEEL]?.delete(item);
  }

  /** Runs `fn(now)` every tick (pool idle sweeps). */
  every(fn: (now: number) => void): void {
    this.sweepers.push(fn);
  }

  size(): number {
    return this.items.size;
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.items.clear();
    this.buckets.fill(undefined);
  }

  /** @internal exposed for tests; runs one sweep at `now`. */
  tick(now = performance.now()): void {
    const t = Math.floor(now / this.tickMs);
    // After a stall longer than a revolution, one pass over every bucket covers everything.
    const from = Number.isNaN(this.last) ? t - WHEEL + 1 : Math.max(this.last + 1, t - WHEEL + 1);
    for (let s = from; s <= t; s++) {
      this.last = s;
      this.sweep(s, now);
    }
    // The current tick's bucket too: what is due by now fires now, not a tick later.
    this.sweep(this.last + 1, now);
    for (const fn of this.sweepers) {
      try {
        fn(now);
      } catch (err) {
        log.error({ err }, 'periodic sweep failed');
      }
    }
  }

  /** The absolute tick whose sweep finds deadline D due (never one already swept); 0 for none. */
  private slotOf(d: number): number {
    if (d === 0) return 0;
    const s = Math.ceil(d / this.tickMs);
    return Number.isNaN(this.last) || s > this.last ? s : this.last + 1;
  }

  /** Puts a registered item where its deadline is due, unless it already sits in an earlier bucket. */
  private reschedule(item: Expiring): void {
    const at = this.items.get(item)!;
    const slot = this.slotOf(item.deadline);
    if (slot !== 0 && (at === 0 || slot < at)) this.place(item, at, slot);
  }

  private place(item: Expiring, from: number, slot: number): void {
    if (from !== 0) this.buckets[from % WHEEL]?.delete(item);
    const i = slot % WHEEL;
    let b = this.buckets[i];
    if (b === undefined) b = this.buckets[i] = new Set();
    b.add(item);
    this.items.set(item, slot);
  }

  /** Expires the due items of tick S's bucket and moves the others to where their deadline is now. */
  private sweep(s: number, now: number): void {
    const i = ((s % WHEEL) + WHEEL) % WHEEL;
    const b = this.buckets[i];
    if (b === undefined || b.size === 0) return;
    // Items put back into this bucket while it is swept go to a fresh one (no endless iteration).
    this.buckets[i] = undefined;
    for (const item of b) {
      // Deleted, or moved to another bucket since this one was taken out of the wheel.
      const at = this.items.get(item);
      if (at === undefined || at % WHEEL !== i) continue;
      this.items.set(item, 0);
      const d = item.deadline;
      if (d !== 0 && d <= now) {
        item.deadline = 0;
        try {
          item.expire(now);
        } catch (err) {
          // An expiry handler must not stop the sweep for everyone else.
          log.error({ err }, 'deadline handling failed');
        }
        // Deleted by its handler (closed), or already put back by it (add()).
        if (!this.items.has(item)) continue;
      }
      this.reschedule(item);
    }
  }
}
