// The protocol-neutral request and response the L7 engine works on. HTTP/1.x (raw sockets),
// HTTP/2 and gRPC downstreams each adapt their streams to L7Request + L7Sink, so routing, rate limits,
// faults, retries, mirroring and telemetry are written once. Kept minimal so every adapter stays small.
import type { Duplex, Readable } from 'node:stream';
import type { HeaderList } from '../codec/fields';
import type { Head } from '../codec/h1head';
import type { ConnContext } from '../conn/context';
import type { RequestView, RouteDecision } from '../route/types';

/** Header fields as [lower-case name, value], in order (defined with the codecs; re-exported here). */
export type { HeaderList };

export type L7Protocol = 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2';

export interface L7Request extends RequestView {
  readonly protocol: L7Protocol;
  /** content-type starts with application/grpc. */
  readonly grpc: boolean;
  /**
   * The fields to forward: lower-case names, no pseudo-headers, no host (`authority` carries it), no
   * hop-by-hop fields (connection and what it names, keep-alive, proxy-connection, transfer-encoding,
   * upgrade, expect, trailer), except `te: trailers`.
   */
  headers(): HeaderList;
  /**
   * The request body. The engine reads it with backpressure (pause/resume) and it ends with the
   * request; an 'error' or a 'close' before 'end' means the client went away. An empty body still ends.
   */
  readonly body: Readable;
  /** True when the request is known to have no body (END_STREAM on the headers, no length/chunks). */
  readonly bodyless: boolean;
  /** Request trailers, once the body ended; undefined when there were none. */
  trailers(): HeaderList | undefined;
  /**
   * The parsed HTTP/1 head, for an HTTP/1 transport to copy when the route changes nothing in it
   * (upstream/attempt.ts RawRequestHead); valid until the response ends. Other protocols: undefined.
   */
  readonly rawHead?: Head;
  /**
   * The HTTP/2 head as decoded, flat [name, value, ...] with pseudo-headers, for an HTTP/2 transport to
   * build its request from in one pass when the route edits no field; valid until the response ends.
   * Other protocols: undefined.
   */
  readonly flatHead?: readonly string[];
  /**
   * The protocol an HTTP/1.1 client asks to switch to (only 'websocket' is passed on): the request goes
   * to the endpoint over HTTP/1.1 with its Upgrade, and a 101 turns the exchange into a byte tunnel.
   */
  readonly upgrade?: 'websocket';
}

/** What the engine tells the sink's owner back; set once with watch(). */
export interface SinkEvents {
  /** write() returned false earlier and the client can take more now. */
  drain(): void;
  /**
   * The client went away (reset, closed) before end(): stop the upstream. ANSWERED: the status the sink
   * sent the client itself (400 for a request body it could not decode), for the record.
   */
  gone(answered?: number): void;
}

/** Where the engine writes the response. Calls come in order: respond, write*, end | reset. */
export interface L7Sink {
  /**
   * Response head. HEADERS lower-case, without pseudo-headers or hop-by-hop fields. END_STREAM: nothing
   * follows (no body, no trailers).
   */
  respond(status: number, headers: HeaderList, endStream: boolean): void;
  /** An informational (1xx) response before the final one; sinks that cannot send one leave it out. */
  interim?(status: number, headers: HeaderList): void;
  /** Body bytes; false asks the engine to wait for SinkEvents.drain. */
  write(chunk: Buffer): boolean;
  /** Ends the response, with trailers when given (HTTP/2; HTTP/1.1 chunked; dropped where impossible). */
  end(trailers?: HeaderList): void;
  /** Aborts: RST_STREAM on HTTP/2; drops the connection on HTTP/1. */
  reset(): void;
  /**
   * The endpoint switched protocols (101): the sink sends the 101 head with HEADERS and UPGRADE, and
   * hands over the client's connection as bytes (what the client sent after its head comes first).
   * Undefined when it cannot (the client is gone): the caller drops the endpoint's connection.
   */
  switchProtocols?(headers: HeaderList, upgrade: string): Duplex | undefined;
  /** The client is gone or the response finished: nothing more can be written. */
  readonly closed: boolean;
  watch(events: SinkEvents): void;
}

/** Runs one request to completion (L7Engine); never throws. */
export interface L7Handler {
  /** DECISION: the route already decided for this request (the HTTP/1 planner's), so it is not drawn twice. */
  handle(req: L7Request, sink: L7Sink, ctx: ConnContext, decision?: RouteDecision): void;
}
