// HTTP/1.1 at L7 over raw sockets: captured connections detected as HTTP/1 get one H1Conn each, which
// parses request heads (h1parse, strict like llhttp/Envoy), runs one Exchange per request, and handles
// pipelined requests one at a time in order. Malformed requests get 400/431 and a close; a client that
// is slow to send its headers gets 408. Deadlines come from the shared coarse clock, not timers.
//
// Client timeouts (docs/traffic.md): the first request head must be complete within headersMs of the
// connection's accept (detection on the way here counts), later ones within headersMs of their first
// byte; expiry is 408 and a close, or a plain close when not one byte of a request came. Between
// requests a connection without a byte is closed after downstreamIdleMs.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { CATALOG, type CatalogEntry } from '../../errors';
import type { Expiring } from '../../conn/deadlines';
import { contextOf, type ConnContext } from '../../conn/context';
import { logger } from '../../log';
import type { Downstream, H1Exchange, Http1Deps } from './types';
import { EngineExchange } from './request';
import { H1RequestView } from './view';
import type { Head } from '../../codec/h1head';
import { ERRORS, HeadParser, MAX_HEAD_BYTES } from '../../codec/h1parse';
import { clientErrorAnswer, HEADERS_TIMEOUT_CODE, recordRejected } from './reject';

const log = logger('http1');

/** Envoy's default request-headers cap. */
export const MAX_HEADER_BYTES = MAX_HEAD_BYTES;

/** How long a connection we are closing may take to close its side (or, while flushing, to make progress). */
const LINGER_MS = 1_000;

const PAUSE_BACKPRESSURE = 1;
const PAUSE_PIPELINE = 2;

/** The earlier of two deadlines, 0 meaning none. */
function earliest(a: number, b: number): number {
  return a === 0 ? b : b === 0 || a < b ? a : b;
}

class H1Conn implements Downstream, Expiring {
  deadline = 0;
  private readonly parser = new HeadParser(true);
  private ex: H1Exchange | undefined;
  /** Pipelined bytes received while a request is outstanding; the socket is paused meanwhile. */
  private stash: Buffer | undefined;
  private paused = 0;
  private busy = false;
  private closing = false;
  private idleAt = 0;
  private headersAt = 0;
  private lingerAt = 0;
  private lingerBytes = -1;
  private progressAt = 0;
  /** The socket closed: nothing may register with the clock again. */
  private gone = false;

  constructor(
    private readonly proxy: Http1Proxy,
    // A captured net.Socket, or a tunnel stream as a Duplex: only stream events and writes are used.
    private readonly socket: Duplex,
    readonly ctx: ConnContext,
    readonly deps: Http1Deps,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    deps.deadlines.add(this);
    this.startFirst(deps.deadlines.now());
  }

  /**
   * The first request's head is due headersMs after the accept, whatever detection took. The accept time
   * is the context's wall clock, so the elapsed part is clamped: a clock step never stretches the bound.
   */
  private startFirst(now: number): void {
    const ms = this.headersMs();
    if (ms === 0) return this.setIdle(now);
    const elapsed = Math.min(ms, Math.max(0, Date.now() - this.ctx.startedAt));
    this.headersAt = now - elapsed + ms;
    this.rearm();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.closing) return;
    if (this.ex !== undefined && this.ex.reqDone) return this.keep(chunk, 0);
    try {
      this.process(chunk, 0);
      this.drainStash();
    } catch (err) {
      this.bug(err);
    }
  };

  /** A bug must cost this connection, never the process: drop it (its exchange ends as DC). */
  bug(err: unknown): void {
    log.error({ err }, 'request handling failed');
    this.busy = false;
    this.reset();
    try {
      this.ex?.clientGone();
    } catch (e) {
      log.error({ err: e }, 'request cleanup failed');
    }
  }

  private process(buf: Buffer, off: number): void {
    this.busy = true;
    try {
      while (off < buf.length && !this.closing) {
        const ex = this.ex;
        if (ex === undefined) {
          const r = this.parser.execute(buf, off);
          if (r === -1) {
            // Part of a head: from here the client has headersMs to finish it (slowloris guard).
            if (this.headersAt === 0) this.setHeadersDeadline();
            return;
          }
          if (r === -2) return this.answerAndClose(this.parser.error!.code);
          const head = this.parser.head!;
          this.parser.reset();
          this.headersAt = this.idleAt = 0;
          // CONNECT tunnels are not proxied at L7 (nor by node's server before this).
          if (head.method0 === 2) return this.answerAndClose('CONNECT_NOT_SUPPORTED');
          // RFC 9112 3.2: an HTTP/1.1 request without Host gets 400 (HTTP/1.0 predates Host).
          if (head.minor === 1 && head.hostCount === 0) return this.answerAndClose(ERRORS.noHost.code);
          const next = this.exchangeFor(head);
          this.ex = next;
          off = next.start(buf, r);
          if (off < 0) return;
        } else if (!ex.reqDone) {
          off = ex.feed(buf, off);
          if (off < 0) return;
        } else return this.keep(buf, off);
      }
    } finally {
      this.busy = false;
    }
  }

  /** Every request is the engine's; the route is drawn here on the parsed head (see Http1Deps.noRouting). */
  private exchangeFor(head: Head): H1Exchange {
    const deps = this.deps;
    const now = deps.deadlines.now();
    const view = new H1RequestView(head, this.ctx);
    if (deps.noRouting === true) return new EngineExchange(this, head, now, { view }, deps.engine);
    const index = deps.index();
    // Re-resolves the connection's service after a reload before routing on it.
    this.ctx.upstreams(index);
    const decision = index.router.route(this.ctx.service, this.ctx.port, view, Math.random);
    return new EngineExchange(this, head, now, { view, decision }, deps.engine);
  }

  /** Keeps pipelined bytes until the outstanding response is done. */
  private keep(buf: Buffer, off: number): void {
    const rest = off === 0 ? buf : buf.subarray(off);
    this.stash = this.stash === undefined ? rest : Buffer.concat([this.stash, rest]);
    this.pause(PAUSE_PIPELINE);
  }

  /** Runs the pipelined requests kept while the previous one was outstanding (from any callback). */
  private drainStash(): void {
    while (this.stash !== undefined && this.ex === undefined && !this.closing && !this.busy) {
      const s = this.stash;
      this.stash = undefined;
      this.resume(PAUSE_PIPELINE);
      try {
        this.process(s, 0);
      } catch (err) {
        return this.bug(err);
      }
    }
  }

  write(data: Buffer | string): boolean {
    const s = this.socket;
    if (s.destroyed || s.writableEnded) return true;
    return typeof data === 'string' ? s.write(data, 'latin1') : s.write(data);
  }


  pause(reason: number): void {
    if (this.paused === 0) this.socket.pause();
    this.paused |= reason;
  }

  resume(reason: number): void {
    if ((this.paused & reason) === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0 && !this.socket.destroyed) this.socket.resume();
  }

  reset(): void {
    this.closing = true;
    this.stash = undefined;
    this.socket.destroy();
  }

  exchangeDone(ex: H1Exchange, keepAlive: boolean, now: number): void {
    if (this.ex !== ex) return;
    this.ex = undefined;
    // Nothing reads the request head after its exchange ended: the next request reuses it.
    this.parser.recycle(ex.head);
    this.resume(PAUSE_BACKPRESSURE);
    if (this.closing) return;
    if (!keepAlive || this.deps.draining()) return this.closeGracefully();
    this.setIdle(now);
    if (!this.busy) this.drainStash();
  }

  takeOver(ex: H1Exchange): Duplex | undefined {
    if (this.ex !== ex || this.closing || this.gone) return undefined;
    this.ex = undefined;
    this.parser.recycle(ex.head);
    const s = this.socket;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('close', this.onClose);
    s.off('drain', this.onDrain);
    // No HTTP deadline (idle, headers, linger) applies to the tunnel from here.
    this.closing = this.gone = true;
    this.deps.deadlines.delete(this);
    this.proxy.forget(this);
    if (this.stash !== undefined) s.unshift(this.stash);
    this.stash = undefined;
    this.paused = 0;
    return s;
  }

  rearm(): void {
    const ex = this.ex;
    let d = earliest(earliest(this.lingerAt, this.idleAt), this.headersAt);
    if (ex !== undefined) d = earliest(earliest(earliest(d, ex.connectAt), ex.requestAt), ex.bodyAt);
    this.deadline = d;
    // The clock finds a later deadline on its own; an earlier one it must be told of.
    if (d !== 0 && !this.gone) this.deps.deadlines.add(this);
  }

  expire(now: number): void {
    if (this.lingerAt !== 0 && this.lingerAt <= now) {
      // Still flushing what we queued (a slow reader of a long response): a reader that stalls is
      // given the idle timeout, not the linger, before the rest of its response is dropped.
      const s = this.socket;
      const pending = s.writableLength;
      if (pending > 0) {
        if (pending !== this.lingerBytes) {
          this.lingerBytes = pending;
          this.progressAt = now;
        }
        if (now - this.progressAt < Math.max(LINGER_MS, this.deps.timeouts.downstreamIdleMs)) {
          this.lingerAt = now + LINGER_MS;
          return this.rearm();
        }
      }
      return void s.destroy();
    }
    const ex = this.ex;
    if (ex !== undefined) ex.expire(now);
    else if (this.headersAt !== 0 && this.headersAt <= now) {
      // A connection that never sent a byte asked nothing: it is closed without an answer.
      return this.parser.started ? this.answerAndClose(HEADERS_TIMEOUT_CODE) : this.closeGracefully();
    }
    else if (this.idleAt !== 0 && this.idleAt <= now) return this.closeGracefully();
    this.rearm();
  }

  private setIdle(now: number): void {
    const ms = this.deps.timeouts.downstreamIdleMs;
    this.idleAt = ms > 0 ? now + ms : 0;
    this.headersAt = 0;
    this.rearm();
  }

  /** The head bound: headersMs, but never past the whole-request bound (0 = none). */
  private headersMs(): number {
    const t = this.deps.timeouts;
    return t.downstreamRequestMs > 0 ? Math.min(t.headersMs, t.downstreamRequestMs) : t.headersMs;
  }

  private setHeadersDeadline(): void {
    const ms = this.headersMs();
    this.idleAt = 0;
    this.headersAt = ms > 0 ? this.deps.deadlines.now() + ms : 0;
    this.rearm();
  }

  /** Ends our side after what is queued, then waits (bounded) for the client to close its side. */
  closeGracefully(): void {
    if (this.closing) return;
    this.closing = true;
    this.stash = undefined;
    this.socket.end();
    this.linger();
  }

  private linger(): void {
    this.idleAt = this.headersAt = 0;
    this.lingerAt = this.deps.deadlines.now() + LINGER_MS;
    // Read on, so the client's FIN is seen (the data is ignored).
    this.paused = 0;
    this.socket.resume();
    this.rearm();
  }

  /** Idle between requests: close now (listener draining). */
  closeIfIdle(): void {
    if (this.ex === undefined && this.stash === undefined && !this.parser.started) this.closeGracefully();
  }

  /** A request that cannot be parsed (or a slow one): a bodiless answer, then close. */
  private answerAndClose(reason: string): void {
    const { error, status } = clientErrorAnswer(reason)!;
    const entry: CatalogEntry = CATALOG[error];
    this.closing = true;
    this.stash = undefined;
    if (this.socket.writable) this.socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    this.linger();
    recordRejected(this.deps, this.ctx, status, entry, reason);
  }

  private readonly onEnd = (): void => {
    // The client finished sending. Mid-request that is a client that left (as node and Envoy treat it);
    // otherwise close our side once what is queued went out.
    if (this.ex !== undefined) this.ex.clientGone();
    else if (!this.closing) this.closeGracefully();
    else if (this.socket.writableFinished) this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.closing = true;
    this.gone = true;
    this.ex?.clientGone();
    this.deps.deadlines.delete(this);
    this.proxy.forget(this);
  };

  private readonly onDrain = (): void => {
    this.ex?.downstreamDrained();
  };
}

export class Http1Proxy {
  private readonly conns = new Set<H1Conn>();

  constructor(private readonly deps: Http1Deps) {}

  /** Takes over a connection detected as HTTP/1 (paused, with its first bytes unshifted). */
  serve(socket: Duplex): void {
    const ctx = contextOf(socket);
    if (ctx === undefined) return void socket.destroy();
    this.conns.add(new H1Conn(this, socket, ctx, this.deps));
    // Flush the unshifted bytes into the parser, then read on.
    socket.resume();
  }

  /** Closes idle keep-alive connections; busy ones close after their current response. */
  drain(): void {
    for (const c of this.conns) c.closeIfIdle();
  }

  /** The listener destroys the sockets; nothing else is held here. */
  close(): void {
    this.conns.clear();
  }

  /** @internal a connection closed. */
  forget(c: H1Conn): void {
    this.conns.delete(c);
  }

  /** Open HTTP/1 client connections (stats and tests). */
  size(): number {
    return this.conns.size;
  }
}
