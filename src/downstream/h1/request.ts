// An HTTP/1 request handed from the raw fast path to the protocol-neutral L7 engine (retries, faults,
// mirrors, header edits, rewrites, local answers, rate limits, pool limits; on the destination side of
// the tunnel, every request: authorization and delivery to the pod). It is the request's body
// source (decoded from the client's framing, with backpressure) and its response sink (written back as
// HTTP/1.1: the upstream's length when known, else chunked, close-delimited for HTTP/1.0 clients).
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import { ChunkedFramer } from '../../codec/h1chunked';
import { H, type Head } from '../../codec/h1head';
import type { Downstream } from './types';
import type { RouteDecision } from '../../route/types';
import type { H1RequestView } from './view';
import type { HeaderList, L7Handler, L7Protocol, L7Request, L7Sink, SinkEvents } from '../../proxy/types';

/** The Downstream pause reason of a body the engine does not read yet (shared with exchange.ts's 1). */
const PAUSE_BODY = 1;

/**
 * What the connection hands the engine with a request: its view, and the route when the planner drew
 * one (h1plan's EnginePlan); none on the destination side, whose engine never routes.
 */
export interface EngineHandOff {
  readonly view: H1RequestView;
  readonly decision?: RouteDecision;
}

/** Request fields the engine must not forward (hop-by-hop, framing, and the host it carries itself). */
const DROP = new Set<number>([H.HOST, H.CONNECTION, H.KEEP_ALIVE, H.PROXY_CONNECTION, H.TRANSFER_ENCODING, H.UPGRADE, H.EXPECT, H.TRAILER, H.TE]);

export class EngineExchange implements L7Request, L7Sink {
  readonly protocol: L7Protocol;
  readonly grpc: boolean;
  readonly bodyless: boolean;
  readonly body: Readable;
  reqDone = false;
  // The engine keeps its own upstream deadlines; the connection's sweep only bounds how long the client
  // may take to send its body (downstreamRequestMs), as on the fast path.
  readonly connectAt = 0;
  readonly requestAt = 0;
  bodyAt = 0;

  // Snapshots: the connection recycles the parsed head as soon as the response ends, while the engine
  // may still read the request (access log, mirrors).
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly scheme = 'http';
  readonly sourceIp: string;
  readonly sourceLabels: Readonly<Record<string, string>>;
  readonly sourceNamespace: string;
  readonly sourcePrincipal: string;
  private readonly all: HeaderList;
  private readonly list: HeaderList;
  private readonly teTrailers: boolean;
  private readonly headMethod0: number;
  private readonly minor: number;
  private readonly framing: Head['framing'];
  private readonly clientKeepAlive: boolean;
  private readonly decision: RouteDecision | undefined;
  private reqRemaining = 0;
  private chunks: ChunkedFramer | undefined;
  private events: SinkEvents | undefined;
  private mode: 'length' | 'chunked' | 'close' | 'none' = 'none';
  private responded = false;
  /** The response head said "connection: close": the connection ends with this response. */
  private saidClose = false;
  private finished = false;

  constructor(
    private readonly conn: Downstream,
    readonly head: Head,
    readonly t0: number,
    plan: EngineHandOff,
    private readonly engine: L7Handler,
  ) {
    const v = plan.view;
    this.decision = plan.decision;
    this.method = v.method;
    this.path = v.path;
    this.authority = v.authority;
    this.sourceIp = v.sourceIp;
    this.sourceLabels = v.sourceLabels;
    this.sourceNamespace = v.sourceNamespace;
    this.sourcePrincipal = v.sourcePrincipal;
    [this.all, this.list] = fieldsOf(head);
    this.teTrailers = head.teTrailers;
    this.headMethod0 = head.method0;
    this.minor = head.minor;
    this.framing = head.framing;
    this.clientKeepAlive = head.keepAlive;
    this.protocol = head.minor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
    this.grpc = (this.header('content-type') ?? '').startsWith('application/grpc');
    this.bodyless = head.framing === 'none';
    // A finished exchange no longer owns the connection's pause reasons (the next request may use 1).
    this.body = new Readable({
      read: () => {
        if (!this.finished) conn.resume(PAUSE_BODY);
      },
    });
  }

  // ---- L7Request ---------------------------------------------------------------------------------

  header(name: string): string | undefined {
    for (const [k, v] of this.all) if (k === name) return v;
    return undefined;
  }

  headers(): HeaderList {
    return this.list;
  }

  trailers(): HeaderList | undefined {
    return undefined;
  }

  // ---- the raw connection feeding the request ------------------------------------------------

  start(buf: Buffer, off: number): number {
    const h = this.head;
    if (h.framing === 'length') this.reqRemaining = h.contentLength;
    else if (h.framing === 'chunked') this.chunks = new ChunkedFramer();
    if (h.expectContinue && h.framing !== 'none' && h.minor === 1) this.conn.write('HTTP/1.1 100 Continue\r\n\r\n');
    const end = this.framing === 'none' ? off : this.body_(buf, off);
    if (this.framing === 'none') this.endBody();
    if (end < 0) {
      // Broken before the engine saw the request: record it here, as the fast path does (DPE).
      this.conn.ctx.requestStats(this.conn.deps.metrics, false, this.conn.ctx.service, undefined).record(0, 'DPE', this.conn.deps.deadlines.now() - this.t0, 0, 0);
      return end;
    }
    if (!this.reqDone) {
      const ms = this.conn.deps.timeouts.downstreamRequestMs;
      if (ms > 0) {
        this.bodyAt = this.t0 + ms;
        this.conn.rearm();
      }
    }
    this.engine.handle(this, this, this.conn.ctx, this.decision);
    return end;
  }

  feed(buf: Buffer, off: number): number {
    return this.body_(buf, off);
  }

  private body_(buf: Buffer, off: number): number {
    let end: number;
    if (this.chunks !== undefined) {
      end = this.chunks.feed(buf, off, buf.length, (b, s, e) => this.push(b.subarray(s, e)));
      if (end < 0) {
        this.conn.ctx.protocolError = true;
        // No error object: nobody may be listening yet (fault delay, before handle), and an unheard
        // 'error' would take the process down; the engine sees the 'close' (and gone()) instead.
        this.body.destroy();
        this.clientGone();
        return -1;
      }
      if (this.chunks.done) this.endBody();
    } else {
      const n = Math.min(this.reqRemaining, buf.length - off);
      end = off + n;
      this.reqRemaining -= n;
      if (n > 0) this.push(buf.subarray(off, end));
      if (this.reqRemaining === 0) this.endBody();
    }
    return end;
  }

  private push(chunk: Buffer): void {
    // The parser's buffer is reused: the engine may hold the bytes (retries, mirrors), so copy.
    if (!this.body.push(Buffer.from(chunk))) this.conn.pause(PAUSE_BODY);
  }

  private endBody(): void {
    if (this.reqDone) return;
    this.reqDone = true;
    this.body.push(null);
    if (this.bodyAt !== 0) {
      this.bodyAt = 0;
      this.conn.rearm();
    }
  }

  expire(now: number): void {
    if (this.finished || this.reqDone || this.bodyAt === 0 || this.bodyAt > now) return;
    // The client did not finish its request in time (node's requestTimeout): cut it off as DPE.
    this.bodyAt = 0;
    this.conn.ctx.protocolError = true;
    this.clientGone();
  }

  clientGone(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.reqDone) this.body.destroy();
    this.conn.reset();
    this.events?.gone();
    this.conn.exchangeDone(this, false, this.conn.deps.deadlines.now());
  }

  downstreamDrained(): void {
    this.events?.drain();
  }

  // ---- L7Sink ----------------------------------------------------------------------------------

  get closed(): boolean {
    return this.finished;
  }

  watch(events: SinkEvents): void {
    this.events = events;
  }

  respond(status: number, headers: HeaderList, endStream: boolean): void {
    if (this.finished || this.responded) return;
    this.responded = true;
    this.conn.corkTurn();
    const noBody = endStream || this.headMethod0 === 1 || status === 204 || status === 304 || status < 200;
    let length: string | undefined;
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    for (const [k, v] of headers) {
      if (k === 'content-length') length = v;
      else if (k === 'transfer-encoding' || k === 'connection' || k === 'keep-alive') continue;
      else text += `${k}: ${v}\r\n`;
    }
    if (noBody) {
      this.mode = 'none';
      if (endStream && this.headMethod0 !== 1 && status !== 204 && status !== 304) text += 'content-length: 0\r\n';
      else if (length !== undefined) text += `content-length: ${length}\r\n`;
    } else if (length !== undefined) {
      this.mode = 'length';
      text += `content-length: ${length}\r\n`;
    } else if (this.minor === 1) {
      this.mode = 'chunked';
      text += 'transfer-encoding: chunked\r\n';
    } else this.mode = 'close';
    if (!this.keepAlive()) {
      this.saidClose = true;
      text += 'connection: close\r\n';
    } else if (this.minor === 0) text += 'connection: keep-alive\r\n';
    this.conn.write(`${text}\r\n`);
    if (endStream) this.finish();
  }

  write(chunk: Buffer): boolean {
    if (this.finished || chunk.length === 0) return true;
    if (this.mode === 'chunked') {
      this.conn.write(`${chunk.length.toString(16)}\r\n`);
      this.conn.write(chunk);
      return this.conn.write('\r\n');
    }
    if (this.mode === 'none') return true;
    return this.conn.write(chunk);
  }

  end(trailers?: HeaderList): void {
    if (this.finished) return;
    if (!this.responded) this.respond(200, [], false);
    if (this.mode === 'chunked') {
      let t = '0\r\n';
      // Trailers only to a client that said it takes them (TE: trailers).
      if (trailers !== undefined && this.teTrailers) for (const [k, v] of trailers) t += `${k}: ${v}\r\n`;
      this.conn.write(`${t}\r\n`);
    }
    this.finish();
  }

  reset(): void {
    if (this.finished) return;
    this.finished = true;
    this.conn.reset();
    this.conn.exchangeDone(this, false, this.conn.deps.deadlines.now());
  }

  private keepAlive(): boolean {
    return !this.saidClose && this.clientKeepAlive && this.reqDone && this.mode !== 'close' && !this.conn.deps.draining();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const keep = this.keepAlive();
    this.conn.resume(PAUSE_BODY);
    this.conn.exchangeDone(this, keep, this.conn.deps.deadlines.now());
  }
}

/** [every field incl. host, the fields to forward], lower-case names. */
function fieldsOf(h: Head): [HeaderList, HeaderList] {
  const all: [string, string][] = [];
  const fwd: [string, string][] = [];
  for (let i = 0; i < h.count; i++) {
    const kind = h.kinds[i]!;
    const name = h.name(i).toLowerCase();
    const value = h.value(i);
    all.push([name, value]);
    if (kind === H.TE) {
      if (h.teTrailers) fwd.push(['te', 'trailers']);
      continue;
    }
    if (DROP.has(kind)) continue;
    if (h.connTokens !== undefined && h.connTokens.includes(name)) continue;
    fwd.push([name, value]);
  }
  return [all, fwd];
}
