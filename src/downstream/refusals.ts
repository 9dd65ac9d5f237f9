// Captured connections the outbound listeners close before proxying them, logged at a bounded rate: the
// first refusal at once, then at most one line per interval with the counts since the last line (a
// flood of refusals stays one line per 10 s, and the last burst is still reported when it stops).
// The per-connection metric is the caller's (nodemesh_downstream_rejected_total{reason}).
import { CATALOG } from '../errors';
import { logger } from '../log';
import type { FdRefusal } from '../conn/fdreserve';

const log = logger('outbound');

/** Why a captured connection was closed unproxied (the metric's reason label). */
export type RefusalReason = 'fd_exhausted' | 'max_connections' | 'draining';

const WHY: Record<RefusalReason, string> = {
  fd_exhausted: 'out of file descriptors (a reserve is kept for the admin ports)',
  max_connections: 'the listener is at its connection limit',
  draining: 'the listener is draining',
};

/** The one log line for refusals counted since the last line. Pure. */
export function refusalLine(counts: ReadonlyMap<RefusalReason, number>, fds: FdRefusal | undefined): { fields: Record<string, unknown>; msg: string } {
  const parts: string[] = [];
  const refused: Record<string, number> = {};
  for (const [reason, n] of counts) {
    refused[reason] = n;
    parts.push(`${n} ${reason}: ${WHY[reason]}`);
  }
  const fields: Record<string, unknown> = { code: CATALOG.DOWNSTREAM_REFUSED.code, refused };
  if (fds !== undefined && counts.has('fd_exhausted')) {
    Object.assign(fields, { open_fds: fds.open, fd_limit: fds.limit, fd_reserve: fds.reserve });
  }
  return { fields, msg: `${CATALOG.DOWNSTREAM_REFUSED.message}: ${parts.join('; ')}` };
}

export class RefusalLog {
  private readonly counts = new Map<RefusalReason, number>();
  private fds: FdRefusal | undefined;
  private last = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs = 10_000,
    private readonly emit: (fields: Record<string, unknown>, msg: string) => void = (f, m) => log.warn(f, m),
    private readonly now: () => number = Date.now,
  ) {}

  note(reason: RefusalReason, fds?: FdRefusal): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
    if (fds !== undefined) this.fds = fds;
    const wait = this.last + this.intervalMs - this.now();
    if (wait <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), wait).unref();
  }

  /** Writes the line for what was counted since the last one, if anything. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.counts.size === 0) return;
    const { fields, msg } = refusalLine(this.counts, this.fds);
    this.emit(fields, msg);
    this.counts.clear();
    this.fds = undefined;
    this.last = this.now();
  }
}

let shared: RefusalLog | undefined;

/** One log for every outbound listener (a no-capture agent has one per VIP). */
export function processRefusalLog(): RefusalLog {
  return (shared ??= new RefusalLog());
}
