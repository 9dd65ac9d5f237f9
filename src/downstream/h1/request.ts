// One HTTP/1 request as the executor sees it (src/proxy: routing, retries, faults, mirrors, edits, local
// answers, limits; on the destination side of the tunnel, authorization and delivery to the pod). It
// hands the parsed head on for a raw copy upstream when the route changes nothing. It is the request's body
// source (decoded from the client's framing, with backpressure) and its response sink (written back as
// HTTP/1.1: the upstream's length when known, else chunked, close-delimited for HTTP/1.0 clients).
import { STATUS_CODES } from 'node:http';
import { Readable, type Duplex } from 'node:stream';
import { ChunkedFramer } from '../../codec/h1chunked';
import type { Head } from '../../codec/h1head';
import { fieldsOf, isWebSocketUpgrade, logFields } from './fields';
import type { Downstream } from './types';
import type { RouteDecision } from '../../route/types';
import type { H1RequestView } from './view';
import type { HeaderList, L7Handler, L7Protocol, L7Request, L7Sink, SinkEvents } from '../../proxy/types';

const BAD_BODY_ANSWER = 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';

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

export class EngineExchange implements L7Request, L7Sink {
  readonly protocol: L7Protocol;
  readonly grpc: boolean;
  readonly bodyless: boolean;
  readonly upgrade: 'websocket' | undefined;
  reqDone = false;
  // The engine keeps its own upstream deadlines; the connection's sweep only bounds how long the client
  // may take to send its body (downstreamRequestMs).
  readonly connectAt = 0;
  readonly requestAt = 0;
  bodyAt = 0;

  // Snapshots: the connection recycles the parsed head as soon as the response ends, while the engine
  // may still read the request (the access log). Field lists are made only when asked for: a request
  // the route leaves as it is goes upstream as its head's own bytes (rawHead) and never needs them.
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly scheme = 'http';
  readonly sourceIp: string;
  readonly sourceLabels: Readonly<Record<string, string>>;
  readonly sourceNamespace: string;
  readonly sourcePrincipal: string;
  private all: HeaderList | undefined;
  private list: HeaderList | undefined;
  /** The fields the access log reads, kept when the head is handed back before the log is written. */
  private kept: { ua: string | undefined; xff: string | undefined } | undefined;
  private readonly view: H1RequestView;
  private stream: Readable | undefined;
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
  /** The status this exchange answered itself (400 for a malformed body); 0 when none. */
  private answered = 0;
  /** The response head, written with the first body bytes or at the end of the turn. */
  private pendingHead: string | undefined;

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
    this.view = v;
    this.teTrailers = head.teTrailers;
    this.headMethod0 = head.method0;
    this.minor = head.minor;
    this.framing = head.framing;
    this.clientKeepAlive = head.keepAlive;
    this.protocol = head.minor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
    this.grpc = (this.header('content-type') ?? '').startsWith('application/grpc');
    this.bodyless = head.framing === 'none';
    this.upgrade = isWebSocketUpgrade(head) ? 'websocket' : undefined;
  }

  get rawHead(): Head | undefined {
    return this.finished ? undefined : this.head;
  }

  /** The body stream, made on first use: a bodiless request (most) never makes one. */
  get body(): Readable {
    if (this.stream === undefined) {
      // A finished exchange no longer owns the connection's pause reasons (the next request may use 1).
      this.stream = new Readable({
        read: () => {
          if (!this.finished) this.conn.resume(PAUSE_BODY);
        },
      });
      if (this.reqDone) this.stream.push(null);
    }
    return this.stream;
  }

  // ---- L7Request ---------------------------------------------------------------------------------

  header(name: string): string | undefined {
    if (this.all !== undefined) {
      for (const [k, v] of this.all) if (k === name) return v;
      return undefined;
    }
    if (this.kept === undefined) return this.view.header(name);
    return name === 'user-agent' ? this.kept.ua : name === 'x-forwarded-for' ? this.kept.xff : undefined;
  }

  headers(): HeaderList {
    if (this.list === undefined) {
      if (this.finished) return [];
      [this.all, this.list] = fieldsOf(this.head);
    }
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
      // Broken before the engine saw the request: recorded here (DPE, with the 400 it was answered).
      this.conn.ctx.requestStats(this.conn.deps.metrics, false, this.conn.ctx.service, undefined).record(this.answered, 'DPE', this.conn.deps.deadlines.now() - this.t0, 0, 0);
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
        this.stream?.destroy();
        this.badBody();
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
    this.stream?.push(null);
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

  /**
   * The body's framing broke (a malformed chunk). Before any response byte went out the client gets 400
   * and a close (the upstream try is dropped with the request); after, only a reset is left.
   */
  private badBody(): void {
    if (this.finished) return;
    if (this.responded && this.pendingHead === undefined) return this.clientGone();
    this.finished = true;
    this.pendingHead = undefined;
    this.answered = 400;
    this.conn.write(BAD_BODY_ANSWER);
    this.events?.gone(400);
    this.handBack(false);
  }

  clientGone(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.reqDone) this.stream?.destroy();
    this.conn.reset();
    this.events?.gone();
    this.handBack(false);
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

  interim(status: number, headers: HeaderList): void {
    // HTTP/1.0 clients do not know informational responses.
    if (this.finished || this.responded || this.minor === 0) return;
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    for (const [k, v] of headers) text += `${k}: ${v}\r\n`;
    this.conn.write(`${text}\r\n`);
  }

  respond(status: number, headers: HeaderList, endStream: boolean): void {
    if (this.finished || this.responded) return;
    this.responded = true;
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
    if (endStream) {
      this.conn.write(`${text}\r\n`);
      return this.finish();
    }
    // The head waits for the first body bytes of this turn to leave with them in one write (one
    // syscall and one buffer, not two); what the turn does not bring, the head does not wait for.
    this.pendingHead = `${text}\r\n`;
    process.nextTick(this.flushHead);
  }

  switchProtocols(headers: HeaderList, upgrade: string): Duplex | undefined {
    if (this.finished || this.responded || this.upgrade === undefined) return undefined;
    this.responded = true;
    let text = 'HTTP/1.1 101 Switching Protocols\r\n';
    for (const [k, v] of headers) if (k !== 'content-length' && k !== 'transfer-encoding') text += `${k}: ${v}\r\n`;
    this.conn.write(`${text}connection: upgrade\r\nupgrade: ${upgrade}\r\n\r\n`);
    this.finished = true;
    // The head goes back to the connection now; the access log is written when the tunnel ends.
    if (this.all === undefined && this.kept === undefined) this.kept = logFields(this.head);
    return this.conn.takeOver(this);
  }

  private readonly flushHead = (): void => {
    const head = this.pendingHead;
    if (head === undefined) return;
    this.pendingHead = undefined;
    if (!this.finished) this.conn.write(head);
  };

  write(chunk: Buffer): boolean {
    if (this.finished || chunk.length === 0 || this.mode === 'none') return true;
    const head = this.pendingHead;
    this.pendingHead = undefined;
    if (this.mode !== 'chunked') return this.conn.write(head === undefined ? chunk : withHead(head, '', chunk, ''));
    return this.conn.write(withHead(head ?? '', `${chunk.length.toString(16)}\r\n`, chunk, '\r\n'));
  }

  end(trailers?: HeaderList): void {
    if (this.finished) return;
    if (!this.responded) this.respond(200, [], false);
    let tail = '';
    if (this.mode === 'chunked') {
      tail = '0\r\n';
      // Trailers only to a client that said it takes them (TE: trailers).
      if (trailers !== undefined && this.teTrailers) for (const [k, v] of trailers) tail += `${k}: ${v}\r\n`;
      tail += '\r\n';
    }
    const head = this.pendingHead ?? '';
    this.pendingHead = undefined;
    if (head !== '' || tail !== '') this.conn.write(head + tail);
    this.finish();
  }

  reset(): void {
    if (this.finished) return;
    this.finished = true;
    this.conn.reset();
    this.handBack(false);
  }

  /** Gives the parsed head back to the connection (it recycles it), keeping what the log still reads. */
  private handBack(keepAlive: boolean): void {
    if (this.all === undefined && this.kept === undefined) this.kept = logFields(this.head);
    this.conn.exchangeDone(this, keepAlive, this.conn.deps.deadlines.now());
  }

  private keepAlive(): boolean {
    return !this.saidClose && this.clientKeepAlive && this.reqDone && this.mode !== 'close' && !this.conn.deps.draining();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const keep = this.keepAlive();
    this.conn.resume(PAUSE_BODY);
    this.handBack(keep);
  }
}

/** HEAD + PREFIX + DATA + SUFFIX in one buffer (the texts are latin1: one byte per character). */
function withHead(head: string, prefix: string, data: Buffer, suffix: string): Buffer {
  const out = Buffer.allocUnsafe(head.length + prefix.length + data.length + suffix.length);
  let at = out.write(head, 0, 'latin1');
  at += out.write(prefix, at, 'latin1');
  at += data.copy(out, at);
  out.write(suffix, at, 'latin1');
  return out;
}
