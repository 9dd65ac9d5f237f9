// One proxied HTTP/1.1 request over raw sockets: pick an endpoint, take a pooled connection (or open
// one), send the rewritten head with the first body bytes in one write, stream the body by its
// framing with backpressure, relay the response (response.ts), and hand the connection back to the
// pool when both sides allow it. Every upstream failure maps to a status and response flag; metrics
// and the access log are recorded exactly once, in end().
import type { Addr } from '../../capture/types';
import { STATUS_CODES } from 'node:http';
import { CATALOG, type ErrorName } from '../../errors';
import type { Target } from '../../balance/set';
import { formatAddr, socketAddr } from '../../telemetry/accesslog';
import { classifyUpstreamError, CONNECT_TIMEOUT_CODE, errorCode, timeoutVerdict, type FailureVerdict } from '../../upstream/failure';
import type { UpstreamConn, UpstreamOwner } from '../../upstream/h1/pool';
import { ChunkedFramer } from '../../codec/h1chunked';
import { H, type Framing, type Head } from '../../codec/h1head';
import { defaultHost, localResponse, nextRequestSeq, requestIdOf, upstreamRequestHead } from '../../codec/headers';
import type { FastPlan } from './plan';
import type { Downstream } from './types';
import { BAD_HEAD, DONE, MORE, ResponseRelay, UNASKED_UPGRADE, type RelayHost } from './relay';

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const UPE: FailureVerdict = { error: 'UPSTREAM_PROTOCOL', flag: 'UPE', status: 502, eject: false };

export class Exchange implements UpstreamOwner, RelayHost {
  private target: Target | undefined;
  private up: UpstreamConn | undefined;
  private upPaused = false;
  private reused = false;
  private retried = false;
  /** The head as sent, kept for the one resend of a bodiless request on a stale pooled connection. */
  private sent: Buffer | undefined;
  /** The request's own x-request-id, or -1 with idSeq naming the one the proxy added. */
  private idSeq = -1;

  /** All request bytes were received from the client. */
  reqDone = false;
  private reqRemaining = 0;
  private reqChunks: ChunkedFramer | undefined;
  private requestBytes = 0;

  private relay: ResponseRelay | undefined;
  private gotBytes = false;
  private closeAfter = false;
  /** Status sent to the client (0 = nothing sent yet). */
  private code = 0;
  private upstreamMs = -1;
  /** Clock reading of the upstream chunk being handled. */
  private tick = 0;

  // Deadlines (performance.now() ms; 0 = not armed); the connection's single deadline is their minimum.
  connectAt = 0;
  requestAt = 0;
  bodyAt = 0;

  private finished = false;
  private flags = '-';
  private termination: string | null = null;
  private upLocal: string | null = null;

  constructor(
    private readonly conn: Downstream,
    readonly head: Head,
    /** performance.now() when the head arrived. */
    readonly t0: number,
    /** The routed destination and its balancer. */
    private readonly plan: FastPlan,
  ) {}

  /** Starts the exchange with the bytes after the head (buf[off, len)); returns the offset consumed up to. */
  start(buf: Buffer, off: number): number {
    const { conn, head } = this;
    const { ctx, deps } = conn;
    ctx.inflight++;
    let end = off;
    if (head.framing === 'length') {
      const n = Math.min(head.contentLength, buf.length - off);
      this.reqRemaining = head.contentLength - n;
      this.requestBytes = n;
      end = off + n;
      this.reqDone = this.reqRemaining === 0;
    } else if (head.framing === 'chunked') {
      const f = (this.reqChunks = new ChunkedFramer());
      end = f.feed(buf, off, buf.length);
      if (end < 0) return this.badBody(f.error!);
      this.requestBytes = f.dataBytes;
      this.reqDone = f.done;
    } else this.reqDone = true;
    if (head.expectContinue && !this.reqDone && head.minor === 1) conn.write(CONTINUE);
    this.armBodyOrRequest(this.t0);

    const plan = this.plan;
    const pick = plan.balancer.pick(deps.index().upstreams(plan.dest.service, plan.dest.port), plan.hashKey === undefined ? undefined : { hashKey: plan.hashKey });
    if (pick.kind === 'none') {
      this.fail('NO_HEALTHY_UPSTREAM', 'no endpoints');
      return end;
    }
    if (pick.panic) deps.metrics.panicPicks.inc({ service: (plan?.dest.service ?? ctx.service).key });
    const t = (this.target = pick.target);
    plan.balancer.onStart(t);
    if (head.requestIdIdx < 0) this.idSeq = nextRequestSeq();
    const host = head.hostCount === 0 ? defaultHost(ctx.service.hosts[0], ctx.port.number, ctx.vip.address) : '';
    const out = upstreamRequestHead(head, { host, idSeq: this.idSeq }, end > off ? buf : undefined, off, end);
    if (head.framing === 'none') this.sent = out;
    const via = this.via(t);
    this.attach(deps.pool.acquire(via.key) ?? deps.pool.connect(via.addr, via.key), this.t0);
    if (!this.up!.socket.write(out) && !this.reqDone) conn.pause(1);
    return end;
  }

  /** More request body bytes (buf[off, len)); returns the offset after the body or after the chunk. */
  feed(buf: Buffer, off: number): number {
    let end: number;
    if (this.reqChunks !== undefined) {
      const f = this.reqChunks;
      end = f.feed(buf, off, buf.length);
      if (end < 0) return this.badBody(f.error!);
      this.requestBytes = f.dataBytes;
      this.reqDone = f.done;
    } else {
      const n = Math.min(this.reqRemaining, buf.length - off);
      end = off + n;
      this.reqRemaining -= n;
      this.requestBytes += n;
      this.reqDone = this.reqRemaining === 0;
    }
    const up = this.up;
    if (up !== undefined && !this.finished && end > off) {
      const ok = up.socket.write(off === 0 && end === buf.length ? buf : buf.subarray(off, end));
      if (!ok && !this.reqDone) this.conn.pause(1);
    }
    if (this.reqDone) this.armBodyOrRequest(this.conn.deps.deadlines.now());
    return end;
  }

  /**
   * Malformed chunked request body: the client is reset and the request recorded as DPE, whether or
   * not its head already went upstream (so the outcome does not depend on how the bytes were split).
   */
  private badBody(why: string): number {
    this.conn.ctx.protocolError = true;
    this.termination = `downstream protocol error: ${why}`;
    this.clientGone();
    return -1;
  }

  private armBodyOrRequest(now: number): void {
    const t = this.conn.deps.timeouts;
    if (this.reqDone) {
      this.bodyAt = 0;
      const ms = this.plan?.timeoutMs ?? t.requestMs;
      if (ms > 0 && this.requestAt === 0) this.requestAt = now + ms;
    } else if (t.downstreamRequestMs > 0 && this.bodyAt === 0) this.bodyAt = this.t0 + t.downstreamRequestMs;
    this.conn.rearm();
  }

  private attach(up: UpstreamConn, now: number): void {
    this.reused = up.uses > 0;
    up.uses++;
    up.owner = this;
    this.up = up;
    const ms = this.conn.deps.timeouts.connectMs;
    if (!up.connected && ms > 0) {
      this.connectAt = now + ms;
      this.conn.rearm();
    }
  }

  /** Stops using the upstream connection: back to the pool when clean, else closed. */
  private detach(reuse: boolean, now: number): void {
    const up = this.up;
    if (up === undefined) return;
    this.up = undefined;
    this.connectAt = 0;
    if (this.conn.deps.accessLog.enabled) this.upLocal = socketAddr(up.socket.localAddress, up.socket.localPort);
    if (reuse) this.conn.deps.pool.release(up, now);
    else up.destroy();
  }

  /** Deadline sweep: whichever of this exchange's deadlines passed. */
  expire(now: number): void {
    if (this.finished) return;
    if (this.connectAt !== 0 && this.connectAt <= now) {
      this.upstreamFailed(CONNECT_TIMEOUT_CODE, `connect timeout after ${this.conn.deps.timeouts.connectMs} ms`);
    } else if (this.bodyAt !== 0 && this.bodyAt <= now) {
      // The client did not finish its request in time (node's requestTimeout): cut it off.
      this.conn.ctx.protocolError = true;
      this.termination = 'request body timeout';
      this.clientGone();
    } else if (this.requestAt !== 0 && this.requestAt <= now) {
      this.termination = 'upstream request timeout';
      if (this.target !== undefined && this.code === 0) this.plan.balancer.report(this.target, 'timeout');
      this.abort(timeoutVerdict(this.code !== 0));
    }
  }

  // ---- upstream events ------------------------------------------------------------------------

  onUpConnect(): void {
    this.connectAt = 0;
  }

  onUpDrain(): void {
    this.conn.resume(1);
  }

  /** The client's socket drained: let the response flow again. */
  downstreamDrained(): void {
    if (this.upPaused && this.up !== undefined) {
      this.upPaused = false;
      this.up.socket.resume();
    }
  }

  onUpData(chunk: Buffer): void {
    if (this.finished) return;
    this.gotBytes = true;
    // One clock reading serves everything this chunk completes (head time, duration, pool idle start).
    this.tick = this.conn.deps.deadlines.now();
    const relay = (this.relay ??= new ResponseRelay(this, this.up!.parser, this.head.method0 === 1, this.head.minor === 0));
    const r = relay.feed(chunk);
    if (r === MORE) return;
    if (r === DONE) return this.complete(this.tick);
    this.termination = r === UNASKED_UPGRADE ? 'upstream switched protocols unasked' : `upstream protocol error: ${relay.error}`;
    // A bad head is answered with 502; a bad body after the head went out can only reset the client.
    this.abort(r === BAD_HEAD || r === UNASKED_UPGRADE ? UPE : { ...UPE, status: undefined });
  }

  // RelayHost
  write(data: Buffer | string): boolean {
    return this.conn.write(data);
  }

  headArrived(res: Head, framing: Framing): boolean {
    const { conn, head } = this;
    this.connectAt = 0;
    this.upstreamMs = this.tick - this.t0;
    this.plan.balancer.report(this.target!, res.status);
    if (res.hasHopByHop) keepAliveHint(res, this.up!);
    this.code = res.status;
    const client10 = head.minor === 0;
    this.closeAfter = !head.keepAlive || !this.reqDone || conn.deps.draining() || (client10 && (framing === 'close' || framing === 'chunked'));
    return this.closeAfter;
  }

  pauseUpstream(): void {
    if (!this.upPaused && this.up !== undefined) {
      this.upPaused = true;
      this.up.socket.pause();
    }
  }

  onUpEnd(): void {
    if (this.finished) return;
    if (this.relay !== undefined && this.relay.status !== 0) {
      if (this.relay.end() === DONE) return this.complete(this.conn.deps.deadlines.now());
      this.termination = 'upstream closed mid-response';
      return this.abort(classifyUpstreamError('ECONNRESET', 'after-headers'));
    }
    this.upstreamFailed('ECONNRESET', 'upstream closed the connection');
  }

  onUpBug(err: unknown): void {
    this.conn.bug(err);
  }

  onUpFail(err: Error | undefined): void {
    if (this.finished) return;
    if (err === undefined) this.upstreamFailed('ECONNRESET', 'upstream connection closed');
    else this.upstreamFailed(errorCode(err), err.message);
  }

  /** The endpoint itself, or the mesh relay for (this client, endpoint): pooled under its own key. */
  private via(t: Target): { addr: Addr; key: string } {
    const relay = this.conn.deps.dial?.(this.conn.ctx.peer, t.addr);
    return relay ? { addr: relay, key: `relay|${relay.address}` } : { addr: t.addr, key: t.key };
  }

  private upstreamFailed(code: string | undefined, message: string): void {
    if (this.finished) return;
    const up = this.up;
    const now = this.conn.deps.deadlines.now();
    const phase = this.code !== 0 ? 'after-headers' : up?.connected ? 'before-headers' : 'connect';
    // A pooled connection the server closed while idle: resend once on a fresh one. Only for requests
    // without a body (nothing was consumed from the client), so this is never a semantic retry.
    if (phase === 'before-headers' && this.reused && !this.retried && !this.gotBytes && this.sent !== undefined && (code === 'ECONNRESET' || code === 'EPIPE')) {
      this.retried = true;
      this.detach(false, now);
      const via = this.via(this.target!);
      this.attach(this.conn.deps.pool.connect(via.addr, via.key), now);
      this.up!.socket.write(this.sent);
      return;
    }
    const v = classifyUpstreamError(code, phase);
    const plan = this.plan;
    if (phase === 'connect') {
      const ejected = v.eject && plan.balancer.report(this.target!, 'connect-failure');
      this.conn.deps.metrics.connectFailure(this.target!, ejected && plan.dest.policy.outlierDetection === undefined);
    } else if (phase === 'before-headers') plan.balancer.report(this.target!, 'reset');
    this.termination = message;
    this.abort(v);
  }

  // ---- endings --------------------------------------------------------------------------------

  /** The response is complete. */
  private complete(now: number): void {
    // A paused connection is resumed by the pool; one with request bytes still unsent is out of sync.
    this.detach(this.relay!.reusable && this.reqDone, now);
    this.end(!this.closeAfter, now);
  }

  /** Ends with a failure: answer with its status, or reset the client once headers went out. */
  private abort(v: FailureVerdict): void {
    if (this.finished) return;
    const now = this.conn.deps.deadlines.now();
    this.flags = v.flag;
    this.detach(false, now);
    if (v.status !== undefined && this.code === 0) this.reply(v.status, CATALOG[v.error].message, now);
    else {
      this.conn.reset();
      this.end(false, now);
    }
  }

  private fail(name: ErrorName, detail: string): void {
    const entry: { status?: number; flag?: string; message: string } = CATALOG[name];
    this.termination = detail;
    this.abort({ error: name, flag: entry.flag ?? '-', status: entry.status ?? 500, eject: false });
  }

  private reply(status: number, body: string, now: number): void {
    // A half-read request body leaves the connection in an unknown state: close it after the answer.
    const close = !this.reqDone || !this.head.keepAlive || this.conn.deps.draining();
    this.conn.write(localResponse(status, STATUS_CODES[status] ?? 'Unknown', body, close));
    this.code = status;
    this.end(!close, now);
  }

  /** The client went away (or broke framing) before the response completed: DC, or DPE. */
  clientGone(): void {
    if (this.finished) return;
    const dpe = this.conn.ctx.protocolError;
    this.flags = dpe ? 'DPE' : 'DC';
    this.termination ??= dpe ? 'downstream protocol error' : 'downstream closed before the response completed';
    const now = this.conn.deps.deadlines.now();
    this.detach(false, now);
    this.conn.reset();
    this.end(false, now);
  }

  private end(keepAlive: boolean, now: number): void {
    if (this.finished) return;
    this.finished = true;
    this.connectAt = this.requestAt = this.bodyAt = 0;
    const { conn } = this;
    const ctx = conn.ctx;
    ctx.inflight--;
    const durationMs = now - this.t0;
    if (this.target !== undefined) this.plan.balancer.onEnd(this.target, this.upstreamMs >= 0 ? this.upstreamMs : durationMs);
    const responseBytes = this.relay?.bytes ?? 0;
    // A routed request that found no endpoint still counts against the service it was routed to.
    const stats = this.target === undefined && this.plan !== undefined ? conn.deps.metrics.http(ctx.source, this.plan.dest.service, undefined) : ctx.httpStats(conn.deps.metrics, this.target);
    stats.record(this.code, this.flags, durationMs, this.requestBytes, responseBytes);
    if (conn.deps.accessLog.enabled) this.log(durationMs, responseBytes);
    conn.exchangeDone(this, keepAlive, now);
  }

  private log(durationMs: number, responseBytes: number): void {
    const { conn, head } = this;
    const ctx = conn.ctx;
    conn.deps.accessLog.write({
      start_time: new Date(Date.now() - durationMs).toISOString(),
      method: head.method,
      path: head.target,
      protocol: `HTTP/1.${head.minor}`,
      response_code: this.code,
      response_flags: this.flags,
      bytes_received: this.requestBytes,
      bytes_sent: responseBytes,
      duration: Math.round(durationMs),
      upstream_service_time: this.upstreamMs >= 0 ? Math.round(this.upstreamMs) : null,
      x_forwarded_for: head.get(H.X_FORWARDED_FOR) ?? null,
      user_agent: firstValue(head, H.USER_AGENT),
      request_id: head.requestIdIdx >= 0 ? head.value(head.requestIdIdx) : this.idSeq >= 0 ? requestIdOf(this.idSeq) : null,
      authority: firstValue(head, H.HOST),
      upstream_host: this.target?.key ?? null,
      upstream_cluster: this.plan.dest.cluster,
      upstream_local_address: this.upLocal,
      downstream_local_address: formatAddr(ctx.vip),
      downstream_remote_address: formatAddr(ctx.peer),
      connection_termination_details: this.termination,
    });
  }
}

function firstValue(h: Head, kind: number): string | null {
  for (let i = 0; i < h.count; i++) if (h.kinds[i] === kind) return h.value(i);
  return null;
}

/** "Keep-Alive: timeout=N" from the server: the pooled connection must not outlive it. */
function keepAliveHint(h: Head, up: UpstreamConn): void {
  for (let i = 0; i < h.count; i++) {
    if (h.kinds[i] !== H.KEEP_ALIVE) continue;
    const m = /(?:^|[\s,])timeout=(\d+)/i.exec(h.value(i));
    if (m !== null) up.hint(Number(m[1]));
  }
}
