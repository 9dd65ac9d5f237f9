// One coarse clock for every deadline of the proxy. A connection registers once and then only sets a
// number per phase (idle, headers, request, connect); a single interval sweeps the registered items.
// Versus a timer per request this costs no allocation, no timer-list insert/remove and no callback
// per request; the price is up to one tick of lateness, which the tick size bounds.
import { performance } from 'node:perf_hooks';
import { logger } from '../log';
import type { Timeouts } from './timeouts';

const log = logger('deadlines');

export interface Expiring {
  /** performance.now() time at which expire() is due; 0 = none. */
  deadline: number;
  expire(now: number): void;
}

/** Tick: a quarter of the shortest configured timeout, within [10 ms, 1 s]. */
export function tickFor(t: Timeouts): number {
  const all = [t.connectMs, t.requestMs, t.headersMs, t.downstreamRequestMs, t.downstreamIdleMs, t.upstreamIdleMs, t.tcpIdleMs].filter((v) => v > 0);
  const min = all.length === 0 ? 4_000 : Math.min(...all);
  return Math.max(10, Math.min(1_000, Math.floor(min / 4)));
}

export class Deadlines {
  private readonly items = new Set<Expiring>();
  private readonly sweepers: ((now: number) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly tickMs: number) {
    this.timer = setInterval(() => this.tick(), tickMs);
    // Deadlines never keep the process alive on their own.
    this.timer.unref();
  }

  now(): number {
    return performance.now();
  }

  add(item: Expiring): void {
    this.items.add(item);
  }

  delete(item: Expiring): void {
    this.items.delete(item);
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
  }

  /** @internal exposed for tests; runs one sweep at `now`. */
  tick(now = performance.now()): void {
    for (const item of this.items) {
      const d = item.deadline;
      if (d !== 0 && d <= now) {
        item.deadline = 0;
        try {
          item.expire(now);
        } catch (err) {
          // An expiry handler must not stop the sweep for everyone else.
          log.error({ err }, 'deadline handling failed');
        }
      }
    }
    for (const fn of this.sweepers) {
      try {
        fn(now);
      } catch (err) {
        log.error({ err }, 'periodic sweep failed');
      }
    }
  }
}
