// One proxied HTTP/1.1 request: pick an endpoint, forward the request with its body streamed, stream
// the response back, map every upstream failure to a status and response flag, and record metrics and
// the access log exactly once (on the response's 'close', which always fires).
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { CATALOG, type ErrorName } from '../errors';
import type { Target } from '../balance/set';
import type { ConnContext } from '../listener/context';
import { formatAddr, socketAddr } from '../telemetry/accesslog';
import { classifyUpstreamError, CONNECT_TIMEOUT_CODE, errorCode, timeoutVerdict, type FailureVerdict } from '../upstream/failure';
import { forwardRequestHeaders, forwardResponseHeaders, hasRequestBody } from './headers';
import type { Http1Deps } from './http1';

/** Origin-form path of a request target (absolute-form "http://h/p" from proxy-aware clients → "/p"). */
export function originPath(url: string): string {
  if (url.charCodeAt(0) === 47 /* / */ || url === '*') return url;
  const scheme = url.indexOf('://');
  if (scheme === -1) return url;
  const slash = url.indexOf('/', scheme + 3);
  return slash === -1 ? '/' : url.slice(slash);
}

/** Host for a request that had none (HTTP/1.0): the service's host name, as the client addressed it. */
export function defaultHost(host: string | undefined, port: number, vip: string): string {
  const name = host ?? vip;
  return port === 80 ? name : `${name}:${port}`;
}

export class Exchange {
  private readonly t0 = performance.now();
  private target: Target | undefined;
  private upReq: http.ClientRequest | undefined;
  private upRes: http.IncomingMessage | undefined;
  private upSocket: net.Socket | undefined;
  private headers: string[] = [];
  private requestId: string | null = null;
  private hasBody = false;
  private connected = false;
  private corked = false;
  private retried = false;
  private failed = false;
  private done = false;
  private flags = '-';
  private termination: string | null = null;
  private requestBytes = 0;
  private responseBytes = 0;
  private upstreamMs = -1;
  private timer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: Http1Deps,
    private readonly ctx: ConnContext,
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
  ) {}

  start(): void {
    const { ctx, req, deps } = this;
    ctx.inflight++;
    this.res.on('close', this.onResClose);
    const pick = ctx.balancer.pick(ctx.service, ctx.port, ctx.upstreams(deps.index()));
    if (pick.kind === 'none') return this.fail('NO_HEALTHY_UPSTREAM', 'no endpoints');
    if (pick.panic) deps.metrics.panicPicks.inc({ service: ctx.service.key });
    this.target = pick.target;
    const fwd = forwardRequestHeaders(req.rawHeaders, randomUUID);
    this.headers = fwd.headers;
    if (!fwd.hasHost) this.headers.push('host', defaultHost(ctx.service.hosts[0], ctx.port.number, ctx.vip.address));
    this.requestId = fwd.requestId;
    this.hasBody = fwd.chunked || hasRequestBody(req.headers);
    if (!this.send()) return;
    if (this.hasBody) {
      req.on('data', this.onReqData);
      req.on('end', this.onReqEnd);
    }
  }

  /** Issues the upstream request; false when node refused it synchronously (answered with 400). */
  private send(): boolean {
    const t = this.target!;
    let up: http.ClientRequest;
    try {
      up = http.request({
        host: t.addr.address,
        port: t.addr.port,
        method: this.req.method,
        path: originPath(this.req.url ?? '/'),
        headers: this.headers,
        agent: this.deps.pool.agent,
      });
    } catch (err) {
      this.fail('BAD_REQUEST', (err as Error).message);
      return false;
    }
    this.upReq = up;
    this.connected = false;
    up.on('socket', this.onSocket);
    up.on('response', this.onResponse);
    up.on('error', this.onUpError);
    if (this.hasBody) up.on('drain', this.onUpDrain);
    else {
      up.end();
      this.startTimer();
    }
    return true;
  }

  private readonly onSocket = (socket: net.Socket): void => {
    this.upSocket = socket;
    if (socket.connecting) {
      const ms = this.deps.timeouts.connectMs;
      if (ms > 0) this.connectTimer = setTimeout(this.onConnectTimeout, ms);
      socket.once('connect', this.onConnect);
    } else this.connected = true;
  };

  private readonly onConnect = (): void => {
    clearTimeout(this.connectTimer);
    this.connected = true;
  };

  private readonly onConnectTimeout = (): void => {
    const err = Object.assign(new Error(`connect timeout after ${this.deps.timeouts.connectMs} ms`), { code: CONNECT_TIMEOUT_CODE });
    this.upReq?.destroy(err);
  };

  private readonly onReqData = (chunk: Buffer): void => {
    this.requestBytes += chunk.length;
    if (this.upReq !== undefined && !this.upReq.destroyed && !this.upReq.write(chunk)) this.req.pause();
  };

  private readonly onUpDrain = (): void => {
    this.req.resume();
  };

  private readonly onReqEnd = (): void => {
    if (this.upReq !== undefined && !this.upReq.destroyed) this.upReq.end();
    this.startTimer();
  };

  private startTimer(): void {
    const ms = this.deps.timeouts.requestMs;
    if (ms > 0 && this.timer === undefined && !this.done) this.timer = setTimeout(this.onTimeout, ms);
  }

  private readonly onTimeout = (): void => {
    this.timer = undefined;
    if (this.done || this.failed) return;
    this.termination = 'upstream request timeout';
    this.abort(timeoutVerdict(this.res.headersSent));
  };

  private readonly onUpError = (err: Error): void => {
    clearTimeout(this.connectTimer);
    if (this.done || this.failed) return;
    const code = errorCode(err);
    const phase = this.upRes !== undefined ? 'after-headers' : this.connected ? 'before-headers' : 'connect';
    // A pooled connection the server closed while idle: resend once on a fresh one. Only for requests
    // without a body (nothing was consumed from the client), so this is never a semantic retry.
    if (phase === 'before-headers' && !this.retried && !this.hasBody && this.upReq?.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) {
      this.retried = true;
      this.detach();
      this.send();
      return;
    }
    const v = classifyUpstreamError(code, phase);
    if (phase === 'connect') {
      const ejected = v.eject && this.deps.balancers.reportFailure(this.target!);
      this.deps.metrics.connectFailure(this.target!, ejected);
    }
    this.termination = err.message;
    this.abort(v);
  };

  private readonly onResponse = (upRes: http.IncomingMessage): void => {
    clearTimeout(this.connectTimer);
    this.connected = true;
    if (this.done || this.failed) {
      upRes.resume();
      return;
    }
    this.upRes = upRes;
    this.upstreamMs = performance.now() - this.t0;
    this.deps.balancers.reportSuccess(this.target!);
    upRes.on('error', this.onUpResError);
    try {
      this.res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, forwardResponseHeaders(upRes.rawHeaders, this.deps.draining()));
    } catch (err) {
      // Node refused to re-emit something llhttp accepted (e.g. an odd status message).
      this.termination = (err as Error).message;
      this.upRes = undefined;
      return this.abort({ error: 'UPSTREAM_PROTOCOL', flag: 'UPE', status: 502, eject: false });
    }
    upRes.on('data', this.onResData);
    upRes.on('end', this.onResEnd);
    this.res.on('drain', this.onResDrain);
  };

  private readonly onResData = (chunk: Buffer): void => {
    this.responseBytes += chunk.length;
    if (!this.corked) {
      // Headers, the chunks and the end that arrive in one tick leave in one write (one syscall).
      this.corked = true;
      this.res.cork();
      process.nextTick(this.uncork);
    }
    if (!this.res.write(chunk)) this.upRes?.pause();
  };

  private readonly uncork = (): void => {
    this.corked = false;
    this.res.uncork();
  };

  private readonly onResDrain = (): void => {
    this.upRes?.resume();
  };

  private readonly onResEnd = (): void => {
    clearTimeout(this.timer);
    this.res.end();
  };

  private readonly onUpResError = (err: Error): void => {
    if (this.done || this.failed) return;
    this.termination = err.message;
    this.abort(classifyUpstreamError(errorCode(err), 'after-headers'));
  };

  /** Stops listening to the current upstream request (before a resend). */
  private detach(): void {
    const up = this.upReq;
    if (up === undefined) return;
    up.removeListener('response', this.onResponse);
    up.removeListener('socket', this.onSocket);
    up.on('error', noop);
    up.removeListener('error', this.onUpError);
    up.destroy();
  }

  /** Ends the exchange with a failure: answer with its status, or reset the client once headers went out. */
  private abort(v: FailureVerdict): void {
    this.failed = true;
    this.flags = v.flag;
    clearTimeout(this.timer);
    clearTimeout(this.connectTimer);
    if (this.upReq !== undefined && !this.upReq.destroyed) this.upReq.destroy();
    // Discard the rest of an unsent body so the connection is not left paused mid-request.
    if (this.hasBody && !this.req.complete) {
      this.req.removeListener('data', this.onReqData);
      this.req.resume();
    }
    if (v.status !== undefined && !this.res.headersSent) this.reply(v.status, CATALOG[v.error].message);
    else this.res.destroy();
  }

  private fail(name: ErrorName, detail: string): void {
    const entry: { status?: number; flag?: string; message: string } = CATALOG[name];
    this.termination = detail;
    this.abort({ error: name, flag: entry.flag ?? '-', status: entry.status ?? 500, eject: false });
  }

  private reply(status: number, body: string): void {
    const headers = ['content-type', 'text/plain', 'content-length', String(Buffer.byteLength(body))];
    // A half-read request body leaves the connection in an unknown state: close it after the answer.
    if (this.deps.draining() || (this.hasBody && !this.req.complete)) headers.push('connection', 'close');
    this.res.writeHead(status, headers);
    this.res.end(body);
  }

  private readonly onResClose = (): void => {
    if (this.done) return;
    this.done = true;
    this.ctx.inflight--;
    clearTimeout(this.timer);
    clearTimeout(this.connectTimer);
    const res = this.res;
    if (!res.writableFinished && !this.failed) {
      const dpe = this.ctx.protocolError;
      this.flags = dpe ? 'DPE' : 'DC';
      this.termination ??= dpe ? 'downstream protocol error' : 'downstream closed before the response completed';
    }
    // An unfinished upstream exchange must not go back to the pool mid-message.
    const up = this.upReq;
    if (up !== undefined && !up.destroyed && (this.upRes === undefined || !this.upRes.complete)) {
      up.on('error', noop);
      up.destroy();
    }
    const code = res.headersSent ? res.statusCode : 0;
    const durationMs = performance.now() - this.t0;
    const { metrics, accessLog } = this.deps;
    metrics.http(this.ctx.source, this.ctx.service, this.target).record(code, this.flags, durationMs, this.requestBytes, this.responseBytes);
    if (accessLog.enabled) this.log(code, durationMs);
  };

  private log(code: number, durationMs: number): void {
    const { req, ctx } = this;
    const xff = req.headers['x-forwarded-for'];
    const s = this.upSocket;
    this.deps.accessLog.write({
      start_time: new Date(Date.now() - durationMs).toISOString(),
      method: req.method ?? null,
      path: req.url ?? null,
      protocol: `HTTP/${req.httpVersion}`,
      response_code: code,
      response_flags: this.flags,
      bytes_received: this.requestBytes,
      bytes_sent: this.responseBytes,
      duration: Math.round(durationMs),
      upstream_service_time: this.upstreamMs >= 0 ? Math.round(this.upstreamMs) : null,
      x_forwarded_for: xff === undefined ? null : String(xff),
      user_agent: req.headers['user-agent'] ?? null,
      request_id: this.requestId,
      authority: req.headers.host ?? null,
      upstream_host: this.target?.key ?? null,
      upstream_cluster: ctx.cluster,
      upstream_local_address: s === undefined ? null : socketAddr(s.localAddress, s.localPort),
      downstream_local_address: formatAddr(ctx.vip),
      downstream_remote_address: formatAddr(ctx.peer),
      connection_termination_details: this.termination,
    });
  }
}

function noop(): void {}
