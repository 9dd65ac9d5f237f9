// File descriptors kept in reserve for the admin ports. When the process runs out of descriptors,
// libuv's accept path closes the pending connection of whichever listener hit EMFILE (its "emfile
// trick") and tells nobody: probes and scrapes on :15021/:15020 fail like any captured client, and no
// log line or metric says why. So the outbound listener refuses (counts, closes cleanly) a captured
// connection once the process would hold more than `limit - reserve` descriptors, which leaves the
// reserve for the admin servers, upstream connects and config reads.
//
// Counting is /proc/self/fd (a readdir); between counts each admitted connection is assumed to cost
// two descriptors (the client and, likely, an upstream), and a count is taken again whenever that
// estimate nears the ceiling. Deciding is pure (fdVerdict, countDue); reading is FdGuard's.
import * as fs from 'node:fs';

/** Descriptors kept free: an eighth of the limit, within [16, 1024], and never more than half of it. */
export function reserveFor(limit: number): number {
  if (!Number.isFinite(limit)) return 0;
  return Math.min(Math.floor(limit / 2), Math.max(16, Math.min(1024, Math.ceil(limit / 8))));
}

export interface FdView {
  readonly limit: number;
  readonly reserve: number;
  /** Descriptors open now, the new connection's included (a count plus an estimate since it). */
  readonly open: number;
  /** The new connection's descriptor: the kernel hands out the lowest free one, so all below it are open. */
  readonly fd: number | undefined;
}

/** Whether a new captured connection may stay open without eating into the reserve. */
export function fdVerdict(v: FdView): 'admit' | 'refuse' {
  const ceiling = v.limit - v.reserve;
  if (v.fd !== undefined && v.fd + 1 > ceiling) return 'refuse';
  return v.open > ceiling ? 'refuse' : 'admit';
}

/** Intervals between counts: near the ceiling a count is at most this old... */
export const NEAR_MS = 20;
/** ...and far from it, this old. */
export const FAR_MS = 1_000;

/** Whether the estimate is too stale to decide on: counted long ago for how close it is to the ceiling. */
export function countDue(estimate: number, ceiling: number, ageMs: number): boolean {
  if (estimate > ceiling) return ageMs >= NEAR_MS;
  return ageMs >= (estimate * 2 >= ceiling ? NEAR_MS : FAR_MS);
}

/** The soft RLIMIT_NOFILE from a /proc/<pid>/limits text; Infinity when unlimited, undefined if absent. */
export function parseNofile(limitsText: string): number | undefined {
  const line = limitsText.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined) return undefined;
  if (soft === 'unlimited') return Infinity;
  const n = Number(soft);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export interface FdSource {
  /** The descriptor limit; undefined when it cannot be read (the guard then admits everything). */
  limit(): number | undefined;
  /** Descriptors open now; undefined when they cannot be counted (the guard then goes by fd numbers). */
  count(): number | undefined;
  now(): number;
}

/** Linux: /proc/self/limits and /proc/self/fd (whose own directory descriptor is not counted). */
export const procFds: FdSource = {
  limit: () => {
    try {
      return parseNofile(fs.readFileSync('/proc/self/limits', 'utf8'));
    } catch {
      return undefined;
    }
  },
  count: () => {
    try {
      return fs.readdirSync('/proc/self/fd').length - 1;
    } catch {
      return undefined;
    }
  },
  now: () => performance.now(),
};

export interface FdRefusal {
  readonly open: number;
  readonly limit: number;
  readonly reserve: number;
}

/** One per process (descriptors are per process): every outbound listener asks the same guard. */
export class FdGuard {
  private limitOf: number | undefined;
  private counted = 0;
  private since = 0;
  private at = -Infinity;
  private limitAt = -Infinity;

  constructor(private readonly src: FdSource = procFds) {}

  /** Undefined to admit the connection whose descriptor is `fd`, else the figures of the refusal. */
  check(fd: number | undefined): FdRefusal | undefined {
    const now = this.src.now();
    // The limit changes only by prlimit from outside: read it again now and then.
    if (this.limitOf === undefined || now - this.limitAt >= 10 * FAR_MS) {
      this.limitOf = this.src.limit();
      this.limitAt = now;
    }
    const limit = this.limitOf;
    if (limit === undefined || !Number.isFinite(limit)) return undefined;
    const reserve = reserveFor(limit);
    let open = this.counted + 2 * this.since;
    if (countDue(open, limit - reserve, now - this.at)) {
      const n = this.src.count();
      if (n !== undefined) {
        this.counted = n;
        this.since = 0;
        this.at = now;
        open = n;
      }
    }
    const lowest = fd === undefined ? 0 : fd + 1;
    open = Math.max(open, lowest);
    if (fdVerdict({ limit, reserve, open, fd }) === 'refuse') return { open, limit, reserve };
    this.since++;
    return undefined;
  }
}

let shared: FdGuard | undefined;

/** The process's guard. */
export function processFdGuard(): FdGuard {
  return (shared ??= new FdGuard());
}

/** A socket's descriptor: Node has no public accessor (libuv's handle knows it). */
export function socketFd(socket: object): number | undefined {
  const fd = (socket as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
