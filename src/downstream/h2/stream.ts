// One client HTTP/2 stream as the engine sees it: H2Request (the request view over the decoded header
// list, the stream's DATA as the body, its trailers) and H2Sink (the response: respond / write / end with
// trailers / RST_STREAM) on an H2Stream of conn/h2socket.ts.
import { E } from '../../codec/h2/constants';
import { droppedRequestField } from '../../codec/headers';
import type { ConnContext } from '../../conn/context';
import type { H2Stream, H2StreamListener } from '../../conn/h2socket';
import { StreamBody } from '../../conn/h2views';
import type { SourceView } from '../../proxy/source';
import type { HeaderList, L7Request, L7Sink, SinkEvents } from '../../proxy/types';

/** First value of NAME in a flat [name, value, ...] list. */
function find(list: readonly string[], name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

/** A flat list as pairs, pseudo-headers dropped. */
function pairs(list: readonly string[]): HeaderList {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < list.length; i += 2) if (list[i]!.charCodeAt(0) !== 58) out.push([list[i]!, list[i + 1]!]);
  return out;
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

/** An expect field value asking for 100 (Continue) before the body (RFC 9110 §10.1.1). */
export function expectsContinue(value: string | undefined): boolean {
  return value !== undefined && value.length >= 12 && value.trim().toLowerCase() === '100-continue';
}

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
  private stream: StreamBody | undefined;
  private readonly h: readonly string[];
  /** The decoded head (L7Request.flatHead). */
  readonly flatHead: readonly string[];

  constructor(
    private readonly s: H2Stream,
    sink: H2Sink,
    ctx: ConnContext,
    source: SourceView,
  ) {
    const h = (this.h = this.flatHead = s.head);
    this.method = find(h, ':method') ?? 'GET';
    this.path = find(h, ':path') ?? '/';
    this.authority = find(h, ':authority') ?? find(h, 'host') ?? '';
    this.scheme = find(h, ':scheme') ?? 'http';
    this.grpc = (find(h, 'content-type') ?? '').startsWith('application/grpc');
    this.bodyless = s.headEnded;
    this.sourceIp = ctx.peer.address;
    this.sourceLabels = source.labels;
    this.sourceNamespace = source.namespace;
    this.sourcePrincipal = source.principal;
    sink.request = this;
    s.listen(sink);
  }

  /** The body, made when first asked for (a bodyless request never is). */
  get body(): StreamBody {
    if (this.stream === undefined) {
      this.stream = new StreamBody(this.s);
      if (this.bodyless) this.stream.push(null);
    }
    return this.stream;
  }

  header(name: string): string | undefined {
    if (name === 'host') return this.authority === '' ? undefined : this.authority;
    return find(this.h, name);
  }

  headers(): HeaderList {
    if (this.list !== undefined) return this.list;
    const out: [string, string][] = [];
    const h = this.h;
    for (let i = 0; i + 1 < h.length; i += 2) push(out, h[i]!, h[i + 1]!);
    return (this.list = out);
  }

  trailers(): HeaderList | undefined {
    return this.trailerList !== undefined && this.trailerList.length > 0 ? this.trailerList : undefined;
  }

  /** @internal DATA of the request. */
  onData(data: Buffer, endStream: boolean): void {
    this.body.feed(data, endStream);
  }

  /** @internal trailers (a server receives no other header list after the head). */
  onTrailers(list: string[], endStream: boolean): void {
    this.trailerList = pairs(list);
    if (endStream) this.body.feed(EMPTY, true);
  }

  /** @internal the stream broke off. */
  onAbort(): void {
    this.stream?.destroy();
  }
}

const EMPTY = Buffer.alloc(0);

/** A response head in flat [name, value, ...] form. */
function flatResponse(status: number, headers: HeaderList): string[] {
  const out = [':status', String(status)];
  for (const [k, v] of headers) out.push(k, v);
  return out;
}

function flat(list: HeaderList): string[] {
  const out: string[] = [];
  for (const [k, v] of list) out.push(k, v);
  return out;
}

export class H2Sink implements L7Sink, H2StreamListener {
  /** @internal the request of this stream, fed with its DATA and trailers. */
  request: H2Request | undefined;
  /** The response completed (END_STREAM queued). */
  completed = false;
  /** The proxy reset the stream (as opposed to the client). */
  resetByProxy = false;
  private headersDone = false;
  private events: SinkEvents | undefined;
  private lost = false;

  constructor(private readonly s: H2Stream) {}

  get closed(): boolean {
    return this.completed || this.resetByProxy || this.s.aborted;
  }

  watch(events: SinkEvents): void {
    this.events = events;
    if (this.s.aborted) queueMicrotask(() => this.gone());
  }

  respond(status: number, headers: HeaderList, endStream: boolean): void {
    if (this.closed || this.headersDone) return;
    this.headersDone = true;
    // 204/205/304 carry no body whatever follows.
    const end = endStream || status === 204 || status === 205 || status === 304;
    this.s.sendHeaders(flatResponse(status, headers), end);
    if (end) this.completed = true;
  }

  /** An interim 100 (a HEADERS frame without END_STREAM), before any response head. */
  continue100(): void {
    if (this.closed || this.headersDone) return;
    this.s.sendHeaders([':status', '100'], false);
  }

  write(chunk: Buffer): boolean {
    if (this.closed || !this.headersDone) return true;
    return this.s.write(chunk);
  }

  end(trailers?: HeaderList): void {
    if (this.closed) return;
    if (!this.headersDone) {
      this.headersDone = true;
      this.s.sendHeaders([':status', '200'], false);
    }
    this.completed = true;
    this.s.end(trailers !== undefined && trailers.length > 0 ? flat(trailers) : undefined);
  }

  reset(): void {
    if (this.completed || this.resetByProxy) return;
    this.resetByProxy = true;
    this.s.reset(E.INTERNAL_ERROR);
  }

  // H2StreamListener: the stream's events after its request head.

  /** @internal */
  headers(list: string[], endStream: boolean): void {
    this.request?.onTrailers(list, endStream);
  }

  /** @internal */
  data(data: Buffer, endStream: boolean): void {
    this.request?.onData(data, endStream);
  }

  /** @internal */
  abort(): void {
    this.request?.onAbort();
    this.gone();
  }

  /** @internal the client takes more response bytes. */
  drain(): void {
    this.events?.drain();
  }

  /** @internal the stream ended before the response did (client reset, connection closed). */
  private gone(): void {
    if (this.completed || this.resetByProxy || this.lost) return;
    this.lost = true;
    const e = this.events;
    this.events = undefined;
    e?.gone();
  }
}
