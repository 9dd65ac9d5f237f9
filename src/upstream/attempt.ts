// One try of a request against one endpoint, the same shape over both upstream protocols: HTTP/2 (and
// gRPC) on a pooled h2c session stream (h2attempt.ts), HTTP/1.1 on a pooled keep-alive connection
// (h1/attempt.ts). The caller writes the request body into it and hears the response head, body,
// trailers, or how it failed (with enough detail to classify the failure: connect, refused stream,
// reset before or after the head, a request never processed).
import type { HeaderList } from '../codec/fields';
import type { Head } from '../codec/h1head';
import type { UpstreamTls } from './tls';

export type { HeaderList };

export type FailureKind = 'connect-failure' | 'reset' | 'refused-stream' | 'protocol';

export interface AttemptFailure {
  readonly kind: FailureKind;
  readonly code: string | undefined;
  readonly message: string;
  /** The response head had arrived (the failure is mid-response). */
  readonly afterHeaders: boolean;
  /**
   * The upstream certainly did not process the request (a refused stream; a pooled HTTP/1 connection
   * the server had closed): resending it is safe and is not a retry.
   */
  readonly unprocessed: boolean;
}

export interface AttemptEvents {
  /** The final response head; END_STREAM: nothing follows (a trailers-only gRPC answer, a bodiless 204). */
  onResponse(status: number, headers: HeaderList, endStream: boolean): void;
  /** Body bytes; the chunk is the receiver's to keep. */
  onData(chunk: Buffer): void;
  /** An informational (1xx) response before the final one, other than 100 and 101 (103 Early Hints). */
  onInterim?(status: number, headers: HeaderList): void;
  onEnd(trailers: HeaderList | undefined): void;
  /**
   * The endpoint answered an upgrade request (UpstreamHead.upgrade) with 101: from here the try is a
   * byte tunnel. write() and end() carry the client's bytes (end: half-close), onData the endpoint's,
   * onEnd (no trailers) its half-close, onFailure (afterHeaders) the connection's close or failure.
   */
  onUpgrade?(headers: HeaderList): void;
  onFailure(f: AttemptFailure): void;
  /** The upstream takes request bytes again after write() returned false. */
  onDrain(): void;
}

/** Where the request goes, after rewrites and header edits. */
export interface UpstreamHead {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  /** Lower-case names, no pseudo-headers, no host, no hop-by-hop fields (except `te: trailers`). */
  readonly headers: HeaderList;
  /**
   * The HTTP/1 request head as the client sent it, when the route changes nothing in it: an HTTP/1
   * transport copies its bytes (codec/headers.ts upstreamRequestHead) instead of writing `headers`
   * one by one. Same meaning as the fields above; valid while the try is being sent.
   */
  readonly raw?: RawRequestHead;
  /**
   * The flat HTTP/2 request head ([':method', m, ':scheme', SCHEME, ':authority', a, ':path', p, name,
   * value, ...]) with the same fields as above; made in one pass from the client's HTTP/2 head when the
   * route edits no field (else from `headers`). Optional: an HTTP/2 transport builds it from the fields.
   */
  flat?(scheme: string): string[];
  /** An upgrade the client asked for (HTTP/1.1 only: `connection: upgrade` and this `upgrade` go along). */
  readonly upgrade?: string;
}

/** A parsed HTTP/1 request head to forward byte for byte (hop-by-hop fields dropped, ids added). */
export interface RawRequestHead {
  readonly head: Head;
  /** Host to add when the client sent none (HTTP/1.0). */
  readonly host: string;
  /** Counter value of the x-request-id to add when the request carries none; -1 = it has one. */
  readonly idSeq: number;
  /** Field lines to add ("name: value\r\n" each), e.g. trace context for a request that had none. */
  readonly extra?: string;
}

export interface Attempt {
  write(chunk: Buffer): boolean;
  end(trailers?: HeaderList): void;
  /** Cancels the try (RST_STREAM / closes the connection); no further events. */
  abort(): void;
  pause(): void;
  resume(): void;
  /** Request bytes queued and not yet taken by the upstream. */
  buffered(): number;
  /** Local address of the upstream connection, for the access log. */
  localAddress(): string | null;
}

/** Connection settings of the cluster (DestinationRule connectionPool). */
export interface AttemptOptions {
  readonly connectTimeoutMs?: number;
  readonly maxRequestsPerConnection?: number;
  /** DestinationRule tls SIMPLE/MUTUAL: connections this try opens originate TLS (pooled apart). */
  readonly tls?: UpstreamTls;
}
