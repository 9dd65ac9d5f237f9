// Per-stream state of an HTTP/2 connection (RFC 9113 §5.1) and the bounded memory of streams that were
// closed, so a late frame on one is told apart from a frame on a stream that never existed. Pure.

/** §5.1 states; reserved states do not occur (server push is never used nor accepted). */
export const ST = {
  IDLE: 'idle',
  OPEN: 'open',
  HALF_CLOSED_LOCAL: 'half-closed (local)',
  HALF_CLOSED_REMOTE: 'half-closed (remote)',
  CLOSED: 'closed',
} as const;
export type StreamState = (typeof ST)[keyof typeof ST];

export class Stream {
  state: StreamState = ST.OPEN;
  /** Bytes this side may still send / the peer may still send. */
  sendWindow: number;
  recvWindow: number;
  /** Received bytes released (consumed) but not yet returned with WINDOW_UPDATE. */
  recvUnacked = 0;
  /** Outgoing data not yet framed, and a trailer list to send after it. */
  queue: Buffer[] = [];
  queued = 0;
  trailers: string[] | undefined;
  trailersSensitive: readonly number[] | undefined;
  /** END_STREAM goes out with the last queued byte (or the trailers). */
  endQueued = false;
  /** The final (non-1xx) header list arrived. */
  gotHeaders = false;
  /** Declared content-length of what arrives (-1: none) and the DATA bytes counted against it. */
  contentLength = -1;
  received = 0;
  /** Request method, on the client side (responses to HEAD carry no body). */
  method = '';
  /** When the peer opened it (the connection's clock), for the reset guard. */
  openedAt = 0;

  constructor(
    readonly id: number,
    /** Opened by this side. */
    readonly local: boolean,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  get remoteOpen(): boolean {
    return this.state === ST.OPEN || this.state === ST.HALF_CLOSED_LOCAL;
  }

  get localOpen(): boolean {
    return this.state === ST.OPEN || this.state === ST.HALF_CLOSED_REMOTE;
  }

  /** END_STREAM received; true once both sides are done. */
  endRemote(): boolean {
    this.state = this.state === ST.OPEN ? ST.HALF_CLOSED_REMOTE : ST.CLOSED;
    return this.state === ST.CLOSED;
  }

  /** END_STREAM was written. */
  endSent = false;

  /** END_STREAM sent; true once both sides are done. */
  endLocal(): boolean {
    this.endSent = true;
    this.state = this.state === ST.OPEN ? ST.HALF_CLOSED_LOCAL : ST.CLOSED;
    return this.state === ST.CLOSED;
  }
}

/** How a stream this side no longer tracks ended: reset by this side (late frames are ignored) or otherwise. */
export type Ended = 'reset' | 'closed';

/**
 * The last LIMIT closed streams, oldest forgotten first: a ring of ids and how each ended. Adding costs
 * two array stores (it happens for every stream); looking up scans the ring, which only a frame on a
 * stream this side no longer tracks makes happen.
 */
export class RecentlyClosed {
  private ids: Int32Array | undefined;
  private hows: Uint8Array | undefined;
  private pos = 0;

  constructor(private readonly limit = 1024) {}

  add(id: number, how: Ended): void {
    const ids = (this.ids ??= new Int32Array(this.limit));
    const hows = (this.hows ??= new Uint8Array(this.limit));
    ids[this.pos] = id;
    hows[this.pos] = how === 'reset' ? 2 : 1;
    this.pos = this.pos + 1 === this.limit ? 0 : this.pos + 1;
  }

  get(id: number): Ended | undefined {
    const ids = this.ids;
    if (ids === undefined || id === 0) return undefined;
    // Newest first: an id closed twice (a reset answering a late frame) reads as its latest ending.
    for (let n = 0, i = this.pos; n < this.limit; n++) {
      i = i === 0 ? this.limit - 1 : i - 1;
      if (ids[i] === id) return this.hows![i] === 2 ? 'reset' : 'closed';
    }
    return undefined;
  }
}
