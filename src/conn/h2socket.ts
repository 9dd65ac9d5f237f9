// One HTTP/2 connection on a byte stream (a net.Socket, a TLS socket or any Duplex, e.g. a tunnel
// stream): the pure codec (codec/h2/connection.ts) fed with what the socket reads, its frames written in
// batches (one corked write per turn of the event loop), the socket's backpressure passed on to the
// streams (write() returns false, 'drain' follows), receive credit returned only as the streams' readers
// take the data, and the timers the codec leaves to its owner (idle connection, linger after close).
// Server or client role; the codec's events reach the streams through h2streams.ts; streams are objects
// with a listener (h2views.ts: a Readable of a stream's DATA, and a Duplex view of a stream for CONNECT
// tunnels).
import type { Duplex } from 'node:stream';
import { H2Connection } from '../codec/h2/connection';
import { E, type Settings } from '../codec/h2/constants';
import type { GuardLimits } from '../codec/h2/guard';
import { H2Stream, type H2StreamListener } from './h2stream';
import { H2Streams, LINGER_MS, type H2SocketEvents } from './h2streams';

export { H2Stream, type H2StreamListener, type H2SocketEvents };

export interface H2SocketOptions {
  readonly role: 'server' | 'client';
  readonly settings?: Partial<Settings>;
  readonly connectionWindow?: number;
  readonly limits?: Partial<GuardLimits>;
  readonly maxHeaderBlock?: number;
  /** With no stream open and nothing read for this long, the connection closes gracefully; 0 = never. */
  readonly idleMs?: number;
  /** Clock (ms) of the abuse guards. */
  readonly now?: () => number;
}

/** Frames (and DATA payloads) smaller than this are copied together into one buffer before writing. */
const JOIN_BELOW = 4 * 1024;

export class H2Socket extends H2Streams {
  private scheduled = false;
  private closing = false;
  private endedOut = false;
  private gone = false;
  private lastRead = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private settingsTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;

  constructor(
    readonly socket: Duplex,
    options: H2SocketOptions,
    events: H2SocketEvents = {},
  ) {
    super(codec(options), options.role, events);
    this.idleMs = options.idleMs ?? 0;
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('end', this.onEnd);
    socket.on('error', noop);
    socket.on('close', this.onClose);
    this.lastRead = Date.now();
    if (this.idleMs > 0) this.armIdle(this.idleMs);
    this.flush();
    if (socket.isPaused()) socket.resume();
  }

  /** Streams open now. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** No more streams can be opened here (GOAWAY either way, closing, or closed). */
  get draining(): boolean {
    return this.closing || this.gone || this.conn.closed || this.conn.goawayReceived >= 0;
  }

  get destroyed(): boolean {
    return this.gone;
  }

  /** Opens a stream (client role); undefined when the connection cannot take one now. */
  request(headers: readonly string[], endStream: boolean, method: string, listener: H2StreamListener): H2Stream | undefined {
    if (this.draining) return undefined;
    const id = this.conn.request(headers, endStream, method);
    if (id === 0) return undefined;
    const s = new H2Stream(this, id);
    s.listener = listener;
    if (endStream) s.localEnded = true;
    this.streams.set(id, s);
    this.schedule();
    return s;
  }

  /**
   * SETTINGS_TIMEOUT (RFC 9113 §6.5.3): this side's SETTINGS not acknowledged within MS → connection error
   * SETTINGS_TIMEOUT (GOAWAY; open streams abort as 'closed'). Called once the transport is up.
   */
  expectSettingsAck(ms: number): void {
    if (this.gone || ms <= 0 || !this.conn.awaitingSettingsAck) return;
    clearTimeout(this.settingsTimer);
    this.settingsTimer = setTimeout(this.onSettingsTimeout, ms);
    this.settingsTimer.unref();
  }

  private readonly onSettingsTimeout = (): void => {
    this.settingsTimer = undefined;
    if (this.gone || !this.conn.awaitingSettingsAck) return;
    this.conn.settingsTimeout();
    this.flush();
  };

  /** Graceful close: GOAWAY; the socket ends once the open streams finish. */
  close(code: number = E.NO_ERROR): void {
    if (this.gone) return;
    this.closing = true;
    this.conn.goaway(code);
    this.flush();
    this.endIfDone();
  }

  /** Drops the connection now; open streams are aborted. */
  destroy(): void {
    this.socket.destroy();
    this.onClose();
  }

  /** Writes the queued frames at the end of this turn of the event loop. */
  schedule(): void {
    if (this.scheduled || this.gone) return;
    this.scheduled = true;
    setImmediate(this.flushNow);
  }

  private readonly flushNow = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Writes what the codec queued; a connection error ends the socket after it. */
  flush(): void {
    if (this.gone || this.socket.writableEnded) return;
    if (this.finishing.size > 0) for (const s of this.finishing) this.finishCheck(s);
    const out = this.conn.takeOutput();
    if (out.length > 0) this.write(out);
    const events = this.conn.takeEvents();
    if (events.length > 0) this.dispatch(events);
  }

  /**
   * One write per flush: runs of small frames are joined into one buffer, large DATA payloads go as they
   * are, all in one corked (vectored) write.
   */
  private write(out: Buffer[]): void {
    const sock = this.socket;
    if (out.length === 1) sock.write(out[0]!);
    else {
      let corked = false;
      let from = 0;
      let run = 0;
      for (let i = 0; i <= out.length; i++) {
        const b = out[i];
        if (b !== undefined && b.length < JOIN_BELOW) {
          run += b.length;
          continue;
        }
        if (b !== undefined && !corked) {
          corked = true;
          sock.cork();
        }
        if (i - from === 1) sock.write(out[from]!);
        else if (i > from) sock.write(Buffer.concat(out.slice(from, i), run));
        if (b !== undefined) sock.write(b);
        from = i + 1;
        run = 0;
      }
      if (corked) sock.uncork();
    }
    if (sock.writableNeedDrain) this.congested = true;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.lastRead = Date.now();
    const fresh: H2Stream[] = [];
    this.dispatch(this.conn.receive(chunk), fresh);
    // New streams are announced after the whole read: one reset in the same read costs nothing.
    for (const s of fresh) if (!s.aborted && !this.gone) this.events.stream?.(s);
    this.dispatch(this.conn.takeEvents());
    this.flush();
  };

  private readonly onDrain = (): void => {
    this.congested = false;
    for (const s of [...this.waiting]) {
      if (this.congested) return;
      this.drainStream(s);
    }
  };

  private readonly onEnd = (): void => {
    // The peer sends nothing more: no new streams; the open ones may still be answered.
    this.closing = true;
    this.endIfDone();
  };

  protected endIfDone(): void {
    if (!this.closing || this.gone || this.endedOut || this.conn.activeStreams > 0 || this.finishing.size > 0) return;
    this.endedOut = true;
    this.flush();
    if (!this.socket.writableEnded) this.socket.end();
    this.linger(LINGER_MS);
  }

  protected linger(ms: number): void {
    if (this.gone) return;
    if (!this.socket.writableEnded) {
      for (const b of this.conn.takeOutput()) this.socket.write(b);
      this.socket.end();
    }
    setTimeout(() => this.socket.destroy(), ms).unref();
  }

  private readonly onClose = (): void => {
    if (this.gone) return;
    this.gone = true;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    if (this.settingsTimer !== undefined) clearTimeout(this.settingsTimer);
    this.abortAll();
    this.events.close?.();
  };

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(this.onIdle, ms);
    this.idleTimer.unref();
  }

  private readonly onIdle = (): void => {
    if (this.gone) return;
    const quiet = Date.now() - this.lastRead;
    if (this.conn.activeStreams === 0 && quiet >= this.idleMs) return this.close();
    this.armIdle(Math.max(this.idleMs - quiet, 100));
  };
}

function codec(options: H2SocketOptions): H2Connection {
  return new H2Connection({
    role: options.role,
    autoConsume: false,
    ...(options.settings !== undefined && { settings: options.settings }),
    ...(options.connectionWindow !== undefined && { connectionWindow: options.connectionWindow }),
    ...(options.limits !== undefined && { limits: options.limits }),
    ...(options.maxHeaderBlock !== undefined && { maxHeaderBlock: options.maxHeaderBlock }),
    now: options.now ?? Date.now,
  });
}

function noop(): void {}
