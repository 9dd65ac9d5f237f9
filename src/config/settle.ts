// Pure timing decisions of the config watcher: how long to wait for a write to settle, and how long to
// back off after an I/O error.
import type { SourceFile } from './sources';

/**
 * How long to wait before reading FILES again to see whether they are still being written: 0 when every
 * file was last modified at least SETTLE_MS before NOW (nothing is writing it: the common case at start
 * and for a renamed-into-place file), else the rest of the settle period (capped at SETTLE_MS, so an
 * mtime in the future, from clock skew, costs one period). A file without an mtime costs one period.
 */
export function settleWait(files: readonly SourceFile[], now: number, settleMs: number): number {
  if (settleMs <= 0) return 0;
  let newest = -Infinity;
  for (const f of files) {
    if (f.modifiedMs === undefined) return settleMs;
    newest = Math.max(newest, f.modifiedMs);
  }
  const left = newest + settleMs - now;
  return left <= 0 ? 0 : Math.min(Math.ceil(left), settleMs);
}

/** Exponential backoff after the FAILURES-th consecutive I/O error: BASE, 2·BASE, ... at most MAX. */
export function ioRetryMs(failures: number, baseMs: number, maxMs: number): number {
  const n = Math.max(1, failures);
  return Math.min(maxMs, baseMs * 2 ** Math.min(n - 1, 30));
}
