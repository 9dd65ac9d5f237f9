// Memory given back after a config shrinks. V8 frees a big config's objects in its next major GCs but
// keeps their pages (hundreds of MB after 10k services) pooled and resident: RSS never comes down on its
// own. One "last resort" collection (V8's memory-reducing GC: it also releases the pooled pages) a few
// seconds after the shrink gives them back. It pauses the event loop for tens of milliseconds, so it runs
// only when the config lost at least half of its size and a sizeable amount of it, once per shrink.
// glibc then keeps the freed malloc memory of the load (tens of MB) until malloc_trim hands it back.
// Start-up leaves the same behind on a small scale (module loading, compilation, the first config: about
// 10 MB of an idle agent's RSS), so one such collection also runs a few seconds after the start.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { MeshConfig } from '../config/model';
import { mallocTrim } from '../capture/ffi';
import { logger } from '../log';

const log = logger('memory');

/** What a config costs, roughly: its objects are dominated by services and endpoints. */
export function configSize(cfg: Pick<MeshConfig, 'services' | 'workloads'>): number {
  let n = cfg.services.length + cfg.workloads.length;
  for (const s of cfg.services) n += s.endpoints.length;
  return n;
}

/** Below this many objects lost a shrink is not worth a pause. */
export const MIN_DROP = 2_000;

/** Whether going from `peak` (the largest size since the last reclaim) to `now` is worth a reclaim. Pure. */
export function reclaimDue(peak: number, now: number): boolean {
  return now * 2 <= peak && peak - now >= MIN_DROP;
}

type GcFn = (opts: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * V8's gc() without --expose-gc on the command line: the flag is set for one new context, which hands
 * the function out, and unset again (no other context sees it).
 */
function v8Gc(): GcFn | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as GcFn) : undefined;
  } catch {
    return undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

function rssMb(): number {
  return Math.round(process.memoryUsage.rss() / 2 ** 20);
}

export interface ReclaimOptions {
  /** Time after the shrink: in-flight connections let go of the old config, and bursts of reloads settle. */
  readonly delayMs?: number;
  /** Time after the start for its one collection (default: delayMs). */
  readonly startDelayMs?: number;
  /** For tests: what runs instead of the collection. */
  readonly collect?: () => void;
  /**
   * Whether a config shrink's reclaim also runs malloc_trim (default true). A proxy worker passes false:
   * the trim covers every thread's malloc arenas, so the main thread's does it for all; and ffi-napi,
   * which the trim goes through, crashes the process on a worker's exit when that worker loaded it
   * before the main thread did.
   */
  readonly trim?: boolean;
}

export class MemoryReclaimer {
  private peak = 0;
  private size = 0;
  private timer: NodeJS.Timeout | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  private gc: GcFn | undefined;
  private readonly delayMs: number;
  /** Reclaims run so far (tests and logs). */
  runs = 0;

  constructor(private readonly opts: ReclaimOptions = {}) {
    this.delayMs = opts.delayMs ?? 5_000;
  }

  /** A config was applied; schedules one reclaim when it is much smaller than the largest one before. */
  applied(cfg: Pick<MeshConfig, 'services' | 'workloads'>): void {
    const size = (this.size = configSize(cfg));
    this.peak = Math.max(this.peak, size);
    if (!reclaimDue(this.peak, size)) {
      // Grown back meanwhile: the pending reclaim would free little.
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      return;
    }
    // Not postponed by further reloads (discovery may reload every few seconds).
    this.timer ??= setTimeout(() => this.run(), this.delayMs).unref();
  }

  /**
   * The agent started: one collection gives back what start-up left (once; a shrink's reclaim pending
   * by then does it instead). Without malloc_trim, whose library would cost more than it frees here.
   */
  started(): void {
    if (this.startTimer !== undefined || this.runs > 0) return;
    this.startTimer = setTimeout(() => {
      if (this.timer === undefined && this.runs === 0) this.run(false);
    }, this.opts.startDelayMs ?? this.delayMs).unref();
  }

  private run(trim = true): void {
    this.timer = undefined;
    this.peak = this.size;
    this.runs++;
    if (this.opts.collect) return this.opts.collect();
    this.gc ??= v8Gc();
    if (this.gc === undefined) return;
    const before = rssMb();
    const t = performance.now();
    let trimmed: boolean | undefined;
    try {
      this.gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
      if (trim && this.opts.trim !== false) trimmed = mallocTrim();
    } catch (err) {
      log.warn({ err }, 'memory reclaim failed');
      return;
    }
    const fields = { rss_before_mb: before, rss_after_mb: rssMb(), pause_ms: Math.round(performance.now() - t) };
    if (trim) log.info({ ...fields, malloc_trim: trimmed ?? (this.opts.trim === false ? 'left to the main thread' : 'unavailable') }, 'memory of a larger config given back');
    else log.info(fields, 'memory left by the start given back');
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    clearTimeout(this.startTimer);
  }
}
