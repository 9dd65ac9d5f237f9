// One client HTTP/2 stream as the engine sees it: H2Request (the request view, the stream's readable
// side as the body, its trailers) and H2Sink (the response: respond / write / end with trailers /
// RST_STREAM). node's Http2Stream throws on misuse (a write after close, a bad header); the sink turns
// every such throw into a reset of this stream alone.
import * as http2 from 'node:http2';
import { listOf } from '../../codec/fields';
import type { ConnContext } from '../../conn/context';
import type { SourceView } from '../../proxy/source';
import { droppedRequestField } from '../../codec/headers';
import type { HeaderList, L7Request, L7Sink, SinkEvents } from '../../proxy/types';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** A node header object (values joined or arrays) as a list, pseudo-headers dropped. */
export { listOf };

/** A list as a node header object (repeated names become arrays). */
export function objectOf(list: HeaderList, into: http2.OutgoingHttpHeaders = {}): http2.OutgoingHttpHeaders {
  for (const [k, v] of list) {
    const had = into[k];
    if (had === undefined) into[k] = v;
    else if (Array.isArray(had)) had.push(v);
    else into[k] = [String(had), v];
  }
  return into;
}

/** A response head in node's flat [name, value, ...] form: no header object is built for it. */
function flatResponse(status: number, headers: HeaderList): string[] {
  const out = [':status', String(status)];
  for (const [k, v] of headers) out.push(k, v);
  return out;
}

/** node only reads the trailers object it is given. */
const NO_TRAILERS: http2.OutgoingHttpHeaders = Object.freeze({});

/** node reads respond() options without keeping or changing them. */
const RESPOND_END: http2.ServerStreamResponseOptions = Object.freeze({ endStream: true, waitForTrailers: false });
const RESPOND_BODY: http2.ServerStreamResponseOptions = Object.freeze({ endStream: false, waitForTrailers: true });

export class H2Request implements L7Request {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly scheme: string;
  readonly protocol = 'HTTP/2' as const;
  readonly grpc: boolean;
  readonly bodyless: boolean;
  readonly sourceIp: string;
  readonly sourceLabels: Readonly<Record<string, string>>;
  readonly sourceNamespace: string;
  readonly sourcePrincipal: string;
  private list: HeaderList | undefined;
  private trailerList: HeaderList | undefined;

  constructor(
    readonly body: http2.ServerHttp2Stream,
    private readonly h: http2.IncomingHttpHeaders,
    private readonly raw: readonly string[] | undefined,
    ctx: ConnContext,
    source: SourceView,
  ) {
    this.method = first(h[':method']) ?? 'GET';
    this.path = first(h[':path']) ?? '/';
    this.authority = first(h[':authority']) ?? first(h.host) ?? '';
    this.scheme = first(h[':scheme']) ?? 'http';
    this.grpc = (first(h['content-type']) ?? '').startsWith('application/grpc');
    this.bodyless = body.endAfterHeaders;
    this.sourceIp = ctx.peer.address;
    this.sourceLabels = source.labels;
    this.sourceNamespace = source.namespace;
    this.sourcePrincipal = source.principal;
    // Trailers can only follow a body.
    if (!this.bodyless) {
      body.once('trailers', (t: http2.IncomingHttpHeaders) => {
        this.trailerList = listOf(t);
      });
    }
  }

  header(name: string): string | undefined {
    if (name === 'host') return this.authority === '' ? undefined : this.authority;
    return first(this.h[name]);
  }

  headers(): HeaderList {
    if (this.list !== undefined) return this.list;
    const out: [string, string][] = [];
    const raw = this.raw;
    if (raw !== undefined) {
      for (let i = 0; i + 1 < raw.length; i += 2) push(out, raw[i]!.toLowerCase(), raw[i + 1]!);
    } else for (const [k, v] of listOf(this.h)) push(out, k, v);
    return (this.list = out);
  }

  trailers(): HeaderList | undefined {
    return this.trailerList !== undefined && this.trailerList.length > 0 ? this.trailerList : undefined;
  }
}

/** Adds a request field to forward: no pseudo-headers, no hop-by-hop fields, te only as "trailers". */
function push(out: [string, string][], k: string, v: string): void {
  if (k.charCodeAt(0) === 58) return;
  if (k === 'te') {
    if (v.toLowerCase().split(',').some((t) => t.trim() === 'trailers')) out.push(['te', 'trailers']);
    return;
  }
  if (!droppedRequestField(k)) out.push([k, v]);
}

/** Who hears that a client stream closed, after the sink itself (the session's accounting). */
export interface StreamCloseHook {
  streamClosed(sink: H2Sink): void;
}

const SINK = Symbol('nodemesh.h2sink');
type SinkStream = http2.ServerHttp2Stream & { [SINK]: H2Sink };

// Listeners shared by every client stream (no closures per request); each finds its sink on the stream.
function onWantTrailers(this: SinkStream): void {
  this[SINK].wantTrailers();
}
function onDrain(this: SinkStream): void {
  this[SINK].drained();
}
function onClose(this: SinkStream): void {
  this[SINK].streamClosed();
}
/** Stream errors end in 'close', which is what counts; without a listener they would be thrown. */
function ignore(): void {}

export class H2Sink implements L7Sink {
  /** The response completed (trailers or END_STREAM sent). */
  completed = false;
  /** The proxy reset the stream (as opposed to the client). */
  resetByProxy = false;
  private headersDone = false;
  private bodyEnded = false;
  private trailers: HeaderList | undefined;
  private events: SinkEvents | undefined;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly hook?: StreamCloseHook,
    /** When the stream opened (the session's clock), for the hook. */
    readonly openedAt = 0,
  ) {
    (stream as SinkStream)[SINK] = this;
    stream.on('error', ignore);
    stream.on('wantTrailers', onWantTrailers);
    stream.on('close', onClose);
    stream.on('drain', onDrain);
  }

  get closed(): boolean {
    return this.completed || this.resetByProxy || this.stream.destroyed || this.stream.closed;
  }

  watch(events: SinkEvents): void {
    this.events = events;
    if (this.stream.destroyed || this.stream.closed) queueMicrotask(() => this.gone());
  }

  respond(status: number, headers: HeaderList, endStream: boolean): void {
    if (this.closed || this.headersDone) return;
    this.headersDone = true;
    // node ends 204/205/304 responses at their headers whatever it is told.
    const end = endStream || status === 204 || status === 205 || status === 304;
    try {
      this.stream.respond(flatResponse(status, headers), end ? RESPOND_END : RESPOND_BODY);
      if (end) this.done();
    } catch {
      this.reset();
    }
  }

  write(chunk: Buffer): boolean {
    if (this.closed || this.bodyEnded) return true;
    try {
      return this.stream.write(chunk);
    } catch {
      this.reset();
      return true;
    }
  }

  end(trailers?: HeaderList): void {
    if (this.closed || this.bodyEnded) return;
    this.bodyEnded = true;
    this.trailers = trailers;
    try {
      this.stream.end();
    } catch {
      this.reset();
    }
  }

  reset(): void {
    if (this.completed || this.resetByProxy) return;
    this.resetByProxy = true;
    try {
      if (!this.stream.destroyed) this.stream.close(NGHTTP2_INTERNAL_ERROR);
    } catch {
      this.stream.destroy();
    }
  }

  /** @internal node asks for the trailers (the response was sent with waitForTrailers). */
  wantTrailers(): void {
    try {
      const t = this.trailers;
      this.stream.sendTrailers(t === undefined || t.length === 0 ? NO_TRAILERS : objectOf(t));
      this.done();
    } catch {
      this.reset();
    }
  }

  /**
   * The response is complete. A client still sending its request is told to stop without error
   * (RST_STREAM NO_ERROR, RFC 9113 8.1; node sends it after what is queued), so an unread upload
   * does not hold the stream open.
   */
  private done(): void {
    this.completed = true;
    const s = this.stream;
    try {
      if (!s.destroyed && !s.closed && !s.readableEnded && s.state.remoteClose !== 1) s.close(NGHTTP2_NO_ERROR);
    } catch {
      // Already closing.
    }
  }

  /** @internal the client takes more response bytes. */
  drained(): void {
    this.events?.drain();
  }

  /** @internal the client stream closed. */
  streamClosed(): void {
    // A stream that closes after END_STREAM went out completed even if node saw no wantTrailers.
    if (!this.completed && !this.resetByProxy && this.stream.rstCode === http2.constants.NGHTTP2_NO_ERROR && this.bodyEnded) this.completed = true;
    if (!this.completed && !this.resetByProxy) this.gone();
    this.hook?.streamClosed(this);
  }

  private gone(): void {
    const e = this.events;
    this.events = undefined;
    e?.gone();
  }
}
