// The stream and sending half of an HTTP/2 connection (RFC 9113 §5.1, §5.2, §6.9): stream table and
// states, flow-control windows both ways, header and DATA framing against the peer's settings, resets.
// H2Connection (connection.ts) adds the receiving half. Pure: frames accumulate in an output queue.

import { DEFAULT_SETTINGS, E, type H2Error, type Settings } from './constants';
import type { Abuse } from './guard';
import { HpackEncoder } from './hpack';
import { type Ended, RecentlyClosed, ST, Stream, type StreamState } from './stream';
import * as W from './writer';

export type H2Event =
  | { kind: 'headers'; stream: number; headers: string[]; sensitive: number[] | undefined; endStream: boolean; trailers: boolean }
  | { kind: 'data'; stream: number; data: Buffer; endStream: boolean }
  /** The header list passed SETTINGS_MAX_HEADER_LIST_SIZE; the stream is open for an answer (431). */
  | { kind: 'oversize'; stream: number }
  | { kind: 'reset'; stream: number; code: number; local: boolean }
  /** A stream this side opened that the peer's GOAWAY left unprocessed: safe to retry elsewhere. */
  | { kind: 'refused'; stream: number }
  | { kind: 'drain'; stream: number }
  | { kind: 'settings'; ack: boolean }
  | { kind: 'ping'; data: Buffer }
  | { kind: 'goaway'; lastStream: number; code: number; debug: string }
  /** A connection error: GOAWAY is queued; write the output, then close. */
  | { kind: 'error'; code: number; reason: string; abuse: Abuse | undefined };

export abstract class H2Endpoint {
  readonly peer: Settings = { ...DEFAULT_SETTINGS };
  protected readonly encoder = new HpackEncoder();
  protected readonly streams = new Map<number, Stream>();
  protected readonly recent = new RecentlyClosed();
  protected readonly blocked = new Set<Stream>();
  protected out: Buffer[] = [];
  protected events: H2Event[] = [];
  /** Highest stream id the peer opened; next id this side opens. */
  lastPeerStream = 0;
  protected nextLocal: number;
  protected activePeer = 0;
  protected activeLocal = 0;
  /** Connection windows: what this side may send, what the peer may send, credit not yet returned. */
  sendWindow = 65_535;
  protected recvWindow = 65_535;
  protected recvUnacked = 0;
  /** Last stream id of the GOAWAY sent / received (-1: none). */
  goawaySent = -1;
  goawayReceived = -1;
  /** A connection error happened (or was sent): nothing more is read or sent but the queued output. */
  closed = false;

  constructor(
    readonly role: 'server' | 'client',
    readonly local: Settings,
    /** Receive window kept open for the connection as a whole. */
    protected readonly connTarget: number,
  ) {
    this.nextLocal = role === 'client' ? 1 : 2;
  }

  /** Frames to write, in order; the queue is emptied. */
  takeOutput(): Buffer[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Events raised by calls (not by receive), e.g. 'drain' after a window grew. */
  takeEvents(): H2Event[] {
    const events = this.events;
    this.events = [];
    return events;
  }

  /**
   * Opens a stream with a request; its id, or 0 when no stream can be opened now (limit, GOAWAY, closed).
   * METHOD: the request's (a response to HEAD has no body). SENSITIVE: pair numbers to send never-indexed.
   */
  request(headers: readonly string[], endStream: boolean, method = '', sensitive?: readonly number[]): number {
    if (this.closed || this.goawayReceived >= 0 || this.activeLocal >= this.peer.maxConcurrentStreams || this.nextLocal > 0x7fffffff) return 0;
    const id = this.nextLocal;
    this.nextLocal += 2;
    const s = new Stream(id, true, this.peer.initialWindowSize, this.local.initialWindowSize);
    s.method = method;
    this.streams.set(id, s);
    this.activeLocal++;
    this.writeHeaders(s, headers, endStream, sensitive);
    return id;
  }

  /** Sends a header list (response, or trailers when data was sent) on an open stream. */
  sendHeaders(id: number, headers: readonly string[], endStream: boolean, sensitive?: readonly number[]): boolean {
    const s = this.streams.get(id);
    if (this.closed || !s || !s.localOpen || s.endQueued) return false;
    if (s.queued > 0) {
      // Trailers go out after the queued data.
      s.trailers = headers.slice();
      s.trailersSensitive = sensitive;
      s.endQueued = true;
      return true;
    }
    this.writeHeaders(s, headers, endStream, sensitive);
    return true;
  }

  /**
   * Queues DATA (sent from DATA itself: do not change it afterwards); it goes out as the windows allow.
   * What waits is queuedOf(id); a 'drain' event tells when a blocked stream's queue emptied.
   */
  sendData(id: number, data: Buffer, endStream: boolean): boolean {
    const s = this.streams.get(id);
    if (this.closed || !s || !s.localOpen || s.endQueued) return false;
    if (data.length > 0 || endStream) {
      s.queue.push(data);
      s.queued += data.length;
    }
    s.endQueued = endStream;
    this.pump(s);
    return true;
  }

  /** Resets a stream (stream error or cancel). */
  reset(id: number, code: number = E.CANCEL): void {
    const s = this.streams.get(id);
    if (s && !this.closed) this.resetStream(s, code);
  }

  /** The owner processed N bytes of DATA on stream ID (only without autoConsume). */
  consume(id: number, n: number): void {
    this.credit(this.streams.get(id), n);
  }

  ping(data: Buffer = Buffer.alloc(8)): void {
    if (!this.closed) this.out.push(W.ping(data, false));
  }

  /** Graceful GOAWAY: streams up to the last one the peer opened are still served. */
  goaway(code: number = E.NO_ERROR, debug = ''): void {
    if (this.closed || this.goawaySent >= 0) return;
    this.goawaySent = this.lastPeerStream;
    this.out.push(W.goaway(this.goawaySent, code, debug));
  }

  /** Streams still open or half-closed. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** §5.1 state of a stream, as this side sees it. */
  stateOf(id: number): StreamState {
    const s = this.streams.get(id);
    if (s) return s.state;
    return this.isIdle(id) ? ST.IDLE : ST.CLOSED;
  }

  /** Bytes of DATA queued on a stream and not yet framed (the owner's backpressure signal). */
  queuedOf(id: number): number {
    return this.streams.get(id)?.queued ?? 0;
  }

  sendWindowOf(id: number): number | undefined {
    return this.streams.get(id)?.sendWindow;
  }

  protected isPeerId(id: number): boolean {
    return (id & 1) === (this.role === 'server' ? 1 : 0);
  }

  protected isIdle(id: number): boolean {
    return this.isPeerId(id) ? id > this.lastPeerStream : id >= this.nextLocal;
  }

  /** Returns flow-control credit for N received bytes; WINDOW_UPDATE once half a window is due. */
  protected credit(s: Stream | undefined, n: number): void {
    if (n <= 0 || this.closed) return;
    this.recvUnacked += n;
    if (this.recvUnacked >= this.connTarget >> 1) {
      this.out.push(W.windowUpdate(0, this.recvUnacked));
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
    if (!s || !s.remoteOpen) return;
    s.recvUnacked += n;
    if (s.recvUnacked >= this.local.initialWindowSize >> 1) {
      this.out.push(W.windowUpdate(s.id, s.recvUnacked));
      s.recvWindow += s.recvUnacked;
      s.recvUnacked = 0;
    }
  }

  protected writeHeaders(s: Stream, headers: readonly string[], endStream: boolean, sensitive?: readonly number[]): void {
    const block = this.encoder.encodeView(headers, sensitive);
    this.out.push(W.headers(s.id, block, endStream, this.peer.maxFrameSize));
    if (endStream) {
      s.endQueued = true;
      if (s.endLocal()) this.forget(s, 'closed');
    }
  }

  /** Frames as much queued data as the windows allow. */
  protected pump(s: Stream): void {
    const maxFrame = this.peer.maxFrameSize;
    while (s.queue.length > 0) {
      const data = s.queue[0]!;
      const last = s.queue.length === 1 && s.endQueued && !s.trailers;
      if (data.length === 0) {
        s.queue.shift();
        if (last) this.out.push(W.dataHead(s.id, 0, true));
        continue;
      }
      const n = Math.min(data.length, s.sendWindow, this.sendWindow, maxFrame);
      if (n <= 0) {
        this.blocked.add(s);
        return;
      }
      const end = last && n === data.length;
      this.out.push(W.dataHead(s.id, n, end), n === data.length ? data : data.subarray(0, n));
      s.sendWindow -= n;
      this.sendWindow -= n;
      s.queued -= n;
      if (n === data.length) s.queue.shift();
      else s.queue[0] = data.subarray(n);
    }
    if (this.blocked.delete(s)) this.events.push({ kind: 'drain', stream: s.id });
    if (s.trailers) {
      const t = s.trailers;
      s.trailers = undefined;
      return this.writeHeaders(s, t, true, s.trailersSensitive);
    }
    if (s.endQueued && !s.endSent && s.endLocal()) this.forget(s, 'closed');
  }

  protected pumpAll(): void {
    for (const s of this.blocked) {
      if (this.sendWindow <= 0) return;
      this.pump(s);
    }
  }

  protected forget(s: Stream, how: Ended): void {
    if (!this.streams.delete(s.id)) return;
    s.state = ST.CLOSED;
    this.blocked.delete(s);
    if (s.local) this.activeLocal--;
    else this.activePeer--;
    this.recent.add(s.id, how);
  }

  protected resetStream(s: Stream, code: number): void {
    this.out.push(W.rstStream(s.id, code));
    this.forget(s, 'reset');
    this.events.push({ kind: 'reset', stream: s.id, code, local: true });
  }

  /** A stream error: RST_STREAM, unless the stream is unknown (then only the frame is sent). */
  protected streamFail(e: H2Error, s: Stream | undefined): void {
    if (s) return this.resetStream(s, e.code);
    this.out.push(W.rstStream(e.stream, e.code));
    this.recent.add(e.stream, 'reset');
  }

}
