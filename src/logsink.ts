// The process's log destination: lines are gathered in memory and written to the file descriptor on the
// libuv thread pool, so logging never blocks the event loop on a slow pipe. Ordinary lines leave at the
// next turn of the loop; access-log lines (bulk) wait for a 64 KiB chunk or LINGER_MS, so under load a
// request costs a string push, not a write. One writer for every line (the access log's included), one
// write in flight at a time: lines leave whole and in order. sonic-boom (pino's own asynchronous
// destination) does the same job but re-encodes every chunk it wrote, about 2.5 times our cost per line.
import * as fs from 'node:fs';

/** Gathered bytes that trigger a write at once. */
const CHUNK = 64 * 1024;
/**
 * How long a line may wait for others to share its write. A write per turn of the event loop was
 * measured to cost the agent more than the lines themselves (a thread-pool round trip each), so
 * lines are written by the chunk under load and at least this often when quiet (Envoy flushes its
 * access log files every 10 s by default).
 */
const LINGER_MS = 200;

export interface LineSinkOptions {
  readonly fd: number;
  /** Bytes that may wait (a stalled reader); past it lines are dropped and counted. */
  readonly maxBuffered: number;
}

export class LineSink {
  private parts: string[] = [];
  private partsBytes = 0;
  /** Encoded bytes not yet written: the chunk in flight (its unwritten rest) first. */
  private queue: Buffer[] = [];
  private queued = 0;
  private writing = false;
  /** A LINGER_MS timer is set for bulk lines. */
  private scheduled = false;
  /** A pump is set for the next turn (a plain line is waiting). */
  private soon = false;
  /** A plain line is among the gathered ones: do not hold them for LINGER_MS. */
  private urgent = false;
  private waiters: (() => void)[] = [];
  dropped = 0;

  constructor(private readonly opts: LineSinkOptions) {}

  /** pino's destination interface: a serialised line ending in "\n", written at the next turn of the loop. */
  write(line: string): boolean {
    if (!this.hold(line)) return false;
    this.urgent = true;
    if (!this.soon) {
      this.soon = true;
      setImmediate(this.onSoon);
    }
    return true;
  }

  /**
   * A line of a high-volume stream (the access log): it may wait up to LINGER_MS for others to share
   * its write. A line written with write() meanwhile takes it along, so the order holds.
   */
  bulk(line: string): boolean {
    if (!this.hold(line)) return false;
    if (!this.scheduled && !this.soon) {
      this.scheduled = true;
      setTimeout(this.onTurn, LINGER_MS).unref();
    }
    return true;
  }

  private hold(line: string): boolean {
    if (this.partsBytes + this.queued + line.length > this.opts.maxBuffered) {
      this.dropped++;
      return false;
    }
    this.parts.push(line);
    this.partsBytes += line.length;
    if (this.partsBytes >= CHUNK) this.pump();
    return true;
  }

  /** Resolves once everything written so far reached the file descriptor. */
  drained(): Promise<void> {
    this.pump();
    if (!this.writing && this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** On the way out (no event loop left): everything still held, synchronously. */
  flushSync(): void {
    this.encode();
    // A chunk in flight on the pool is left to it; the rest follows it.
    const start = this.writing ? 1 : 0;
    for (let i = start; i < this.queue.length; i++) {
      let b = this.queue[i]!;
      while (b.length > 0) {
        try {
          b = b.subarray(fs.writeSync(this.opts.fd, b));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        }
      }
    }
    this.queue.length = start;
  }

  private readonly onTurn = (): void => {
    this.scheduled = false;
    this.pump();
  };

  private readonly onSoon = (): void => {
    this.soon = false;
    this.pump();
  };

  private encode(): void {
    if (this.parts.length === 0) return;
    const b = Buffer.from(this.parts.length === 1 ? this.parts[0]! : this.parts.join(''), 'utf8');
    this.parts = [];
    this.partsBytes = 0;
    this.urgent = false;
    this.queue.push(b);
    this.queued += b.length;
  }

  private pump(): void {
    this.encode();
    if (this.writing || this.queue.length === 0) return;
    if (this.queue.length > 1) this.queue = [Buffer.concat(this.queue, this.queued)];
    this.writing = true;
    const chunk = this.queue[0]!;
    fs.write(this.opts.fd, chunk, 0, chunk.length, null, (err, n) => this.written(err, n));
  }

  private written(err: NodeJS.ErrnoException | null, n: number): void {
    this.writing = false;
    if (err !== null) {
      // A non-blocking descriptor that is full: try again shortly. Anything else (EPIPE: the reader
      // is gone) drops what is held, which nobody could read anyway.
      if (err.code === 'EAGAIN') {
        this.writing = true;
        setTimeout(() => this.written(null, 0), 10);
        return;
      }
      this.queue = [];
      this.queued = 0;
    } else if (n > 0) {
      const rest = this.queue[0]!.subarray(n);
      this.queued -= n;
      if (rest.length === 0) this.queue.shift();
      else this.queue[0] = rest;
    }
    // Lines that came meanwhile wait for a full chunk or their timer, unless someone waits for them.
    if (this.queue.length > 0 || this.partsBytes >= CHUNK || (this.parts.length > 0 && (this.urgent || this.waiters.length > 0))) return this.pump();
    if (this.parts.length > 0) {
      if (!this.scheduled && !this.soon) {
        this.scheduled = true;
        setTimeout(this.onTurn, LINGER_MS).unref();
      }
      return;
    }
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
