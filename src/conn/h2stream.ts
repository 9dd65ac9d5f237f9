// One stream of an HTTP/2 connection on a socket (h2socket.ts): what its owner calls (headers, DATA with
// backpressure, end with trailers, reset, receive credit) and the listener that hears its events.
import { E } from '../codec/h2/constants';
import { ST } from '../codec/h2/stream';
import type { H2Connection, H2Event } from '../codec/h2/connection';

/** What a stream needs of its connection (h2socket.ts H2Socket). */
export interface StreamOwner {
  readonly conn: H2Connection;
  readonly role: 'server' | 'client';
  readonly congested: boolean;
  readonly waiting: Set<H2Stream>;
  schedule(): void;
  dispatch(events: H2Event[]): void;
  checkFinished(s: H2Stream): void;
  maybeForget(s: H2Stream): void;
}

/** Stream bytes queued past this make write() return false. */
export const STREAM_HIGH_WATER = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/** What a stream tells its owner. Calls come in order; after abort or close nothing follows. */
export interface H2StreamListener {
  /** A response head (client role; 1xx ones too) or trailers. */
  headers?(headers: string[], endStream: boolean, trailers: boolean): void;
  data?(data: Buffer, endStream: boolean): void;
  /** The stream was reset (by either side), refused by the peer's GOAWAY, or the connection closed. */
  abort?(why: 'reset' | 'refused' | 'closed', code: number, local: boolean): void;
  /** write() returned false and more can be written now. */
  drain?(): void;
}

export class H2Stream {
  /** The peer's request head (server role), and whether it carried END_STREAM (no body follows). */
  head: string[] = [];
  headEnded = false;
  listener: H2StreamListener | undefined;
  /** END_STREAM received. */
  remoteEnded = false;
  /** The owner called end() (or sent headers with END_STREAM). */
  localEnded = false;
  /** Reset, refused, or the connection closed. */
  aborted = false;
  /** Done without an abort to report (a completed stream this side stopped with RST_STREAM NO_ERROR). */
  finished = false;
  /** Events that came before a listener was set (a new stream's data in the read of its HEADERS). */
  private early: (() => void)[] | undefined;
  wantDrain = false;
  /** DATA bytes received and not yet consumed; -1 once the stream is forgotten (its credit returned). */
  unconsumed = 0;
  private finishEarly = false;

  constructor(
    readonly sock: StreamOwner,
    readonly id: number,
  ) {}

  /** Sets the listener; what arrived before it is replayed now. */
  listen(l: H2StreamListener): void {
    this.listener = l;
    const early = this.early;
    this.early = undefined;
    if (early) for (const fn of early) fn();
  }

  /** @internal */
  deliver(fn: (l: H2StreamListener) => void): void {
    const l = this.listener;
    if (l) fn(l);
    else (this.early ??= []).push(() => fn(this.listener!));
  }

  get closed(): boolean {
    return this.aborted || (this.localEnded && this.remoteEnded);
  }

  /** A header list: the response head (or a 1xx), or trailers after data. */
  sendHeaders(headers: readonly string[], endStream: boolean): boolean {
    if (this.aborted || this.localEnded) return false;
    const ok = this.sock.conn.sendHeaders(this.id, headers, endStream);
    if (endStream) this.ended();
    this.sock.schedule();
    return ok;
  }

  /** Body bytes (not copied: do not change them afterwards); false: wait for the listener's drain. */
  write(chunk: Buffer): boolean {
    if (this.aborted || this.localEnded) return true;
    if (chunk.length > 0) this.sock.conn.sendData(this.id, chunk, false);
    this.sock.schedule();
    if (this.sock.congested || this.sock.conn.queuedOf(this.id) > STREAM_HIGH_WATER) {
      this.wantDrain = true;
      this.sock.waiting.add(this);
      return false;
    }
    return true;
  }

  /** Ends this side, with trailers when given. */
  end(trailers?: readonly string[]): void {
    if (this.aborted || this.localEnded) return;
    if (trailers !== undefined && trailers.length > 0) this.sock.conn.sendHeaders(this.id, trailers, true);
    else this.sock.conn.sendData(this.id, EMPTY, true);
    this.ended();
    this.sock.schedule();
  }

  reset(code: number = E.CANCEL): void {
    if (this.aborted) return;
    this.sock.conn.reset(this.id, code);
    this.sock.schedule();
    this.sock.dispatch(this.sock.conn.takeEvents());
  }

  /** Returns receive credit for N bytes of DATA the reader took. */
  consume(n: number): void {
    if (n <= 0 || this.sock.conn.closed || this.unconsumed < 0) return;
    this.unconsumed -= n;
    this.sock.conn.consume(this.id, n);
    this.sock.schedule();
  }

  private ended(): void {
    this.localEnded = true;
    // A server that answered in full stops an upload it will not read (RFC 9113 §8.1): RST_STREAM
    // NO_ERROR once END_STREAM is out, so the stream does not stay open on the client's side.
    if (this.sock.role === 'server' && !this.remoteEnded) {
      this.finishEarly = true;
      this.sock.checkFinished(this);
    } else this.sock.maybeForget(this);
  }

  /** @internal END_STREAM went out; an upload still open is stopped (see ended()). */
  finishIfSent(): void {
    if (!this.finishEarly || this.aborted || this.remoteEnded) return;
    const state = this.sock.conn.stateOf(this.id);
    if (state !== ST.HALF_CLOSED_LOCAL) return;
    this.finishEarly = false;
    this.finished = true;
    this.remoteEnded = true;
    this.sock.conn.reset(this.id, E.NO_ERROR);
    this.sock.schedule();
  }
}
