// The streams of one HTTP/2 connection (h2socket.ts puts them on a byte stream): the codec's events handed
// to the streams and to the connection's owner, the stream table (open, finishing, waiting for drain),
// aborts, and receive credit given back for DATA nobody will read. No I/O here: writing, ending and
// destroying the socket are the subclass's (schedule, linger, endIfDone).
import type { H2Connection, H2Event } from '../codec/h2/connection';
import { E } from '../codec/h2/constants';
import type { Abuse } from '../codec/h2/guard';
import { ST } from '../codec/h2/stream';
import { H2Stream, STREAM_HIGH_WATER, type StreamOwner } from './h2stream';

/** What the connection tells its owner. */
export interface H2SocketEvents {
  /** A stream the peer opened (server role), once the read that carried its HEADERS is processed. */
  stream?(s: H2Stream): void;
  goaway?(lastStream: number, code: number): void;
  /** A connection error (GOAWAY sent); ABUSE when a guard tripped. The socket closes next. */
  error?(code: number, reason: string, abuse: Abuse | undefined): void;
  /** The peer's SETTINGS arrived (the client learns the stream limit). */
  settings?(): void;
  close?(): void;
}

/** How long a closed connection's socket may still deliver what was written before it is destroyed. */
export const LINGER_MS = 1_000;
const ABUSE_LINGER_MS = 100;

export abstract class H2Streams implements StreamOwner {
  protected readonly streams = new Map<number, H2Stream>();
  /** Streams whose write() returned false. */
  readonly waiting = new Set<H2Stream>();
  /** Streams ended locally that may need RST_STREAM NO_ERROR once their END_STREAM is out. */
  protected readonly finishing = new Set<H2Stream>();
  /** The socket's write buffer is full: streams wait for its drain. */
  congested = false;

  constructor(
    readonly conn: H2Connection,
    readonly role: 'server' | 'client',
    protected readonly events: H2SocketEvents,
  ) {}

  /** Writes the queued frames at the end of this turn of the event loop. */
  abstract schedule(): void;
  /** Ends the socket after what is queued, destroying it MS later. */
  protected abstract linger(ms: number): void;
  /** Ends the socket when it is closing and no stream is left. */
  protected abstract endIfDone(): void;

  /** @internal */
  checkFinished(s: H2Stream): void {
    this.finishing.add(s);
  }

  /** @internal */
  maybeForget(s: H2Stream): void {
    if (s.localEnded && s.remoteEnded) this.forget(s);
  }

  protected finishCheck(s: H2Stream): void {
    s.finishIfSent();
    if (s.aborted || s.finished || s.remoteEnded) {
      this.finishing.delete(s);
      this.maybeForget(s);
    }
  }

  /** @internal Hands the codec's events to the streams and the owner. */
  dispatch(events: H2Event[], fresh?: H2Stream[]): void {
    for (const e of events) {
      switch (e.kind) {
        case 'headers': {
          let s = this.streams.get(e.stream);
          if (s === undefined) {
            if (this.role !== 'server') continue;
            s = new H2Stream(this, e.stream);
            s.head = e.headers;
            s.headEnded = e.endStream;
            this.streams.set(e.stream, s);
            if (e.endStream) s.remoteEnded = true;
            if (fresh !== undefined) fresh.push(s);
            else this.events.stream?.(s);
            break;
          }
          const { headers, endStream, trailers } = e;
          if (s.listener !== undefined) s.listener.headers?.(headers, endStream, trailers);
          else s.deliver((l) => l.headers?.(headers, endStream, trailers));
          if (endStream) {
            s.remoteEnded = true;
            this.maybeForget(s);
          }
          break;
        }
        case 'data': {
          const s = this.streams.get(e.stream);
          if (s === undefined) {
            this.conn.consume(e.stream, e.data.length);
            continue;
          }
          const { data, endStream } = e;
          if (s.unconsumed >= 0) s.unconsumed += data.length;
          if (s.listener !== undefined) s.listener.data?.(data, endStream);
          else s.deliver((l) => l.data?.(data, endStream));
          if (endStream) {
            s.remoteEnded = true;
            this.maybeForget(s);
          }
          break;
        }
        case 'oversize': {
          // A header list past the limit: a request is answered 431 (RFC 6585), a response resets its stream.
          if (this.role === 'client') {
            this.conn.reset(e.stream, E.PROTOCOL_ERROR);
            break;
          }
          this.conn.sendHeaders(e.stream, [':status', '431'], true);
          if (this.conn.stateOf(e.stream) === ST.HALF_CLOSED_LOCAL) this.conn.reset(e.stream, E.NO_ERROR);
          break;
        }
        case 'reset':
        case 'refused': {
          const s = this.streams.get(e.stream);
          if (s === undefined) continue;
          this.abort(s, e.kind, e.kind === 'reset' ? e.code : E.REFUSED_STREAM, e.kind === 'reset' && e.local);
          break;
        }
        case 'drain': {
          const s = this.streams.get(e.stream);
          if (s !== undefined) {
            if (this.finishing.has(s)) this.finishCheck(s);
            if (s.wantDrain && !this.congested) this.drainStream(s);
          }
          break;
        }
        case 'settings':
          if (!e.ack) this.events.settings?.();
          break;
        case 'goaway':
          this.events.goaway?.(e.lastStream, e.code);
          break;
        case 'error':
          this.events.error?.(e.code, e.reason, e.abuse);
          this.linger(e.abuse !== undefined ? ABUSE_LINGER_MS : LINGER_MS);
          break;
        case 'ping':
          break;
      }
    }
    if (this.conn.closed) this.abortAll();
    this.endIfDone();
  }

  protected drainStream(s: H2Stream): void {
    if (this.conn.queuedOf(s.id) > STREAM_HIGH_WATER) return;
    s.wantDrain = false;
    this.waiting.delete(s);
    s.listener?.drain?.();
  }

  private abort(s: H2Stream, why: 'reset' | 'refused' | 'closed', code: number, local: boolean): void {
    if (s.aborted || s.finished) return;
    s.aborted = true;
    this.forget(s);
    s.deliver((l) => l.abort?.(why, code, local));
  }

  private forget(s: H2Stream): void {
    // Credit for DATA nobody will read (a body left unread, a reset stream) goes back to the connection.
    if (s.unconsumed > 0 && !this.conn.closed) {
      this.conn.consume(s.id, s.unconsumed);
      this.schedule();
    }
    s.unconsumed = -1;
    this.streams.delete(s.id);
    this.waiting.delete(s);
    this.finishing.delete(s);
  }

  protected abortAll(): void {
    for (const s of [...this.streams.values()]) this.abort(s, 'closed', E.CANCEL, false);
  }
}
