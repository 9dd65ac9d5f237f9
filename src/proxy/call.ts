// One request through the engine after admission (engine.ts): tries against the routed cluster, retries
// with backoff to other endpoints while policy, budget and the kept body allow, per-try, route and
// grpc-timeout deadlines, the response streamed back with backpressure both ways. Every ending goes
// through finish(): the record (callreport.ts) exactly once, breaker and budget released.
import type { Lease } from '../balance/lease';
import type { RetryPolicy } from '../config/traffic';
import { CATALOG, type ErrorName } from '../errors';
import type { ConnContext } from '../conn/context';
import { logger } from '../log';
import { backoffMs, type AttemptOutcome } from '../route/retry';
import { attemptOptions, startTry, type Attempt, type AttemptFailure } from './attempt';
import type { BodyEvents, BodyReader } from './body';
import type { EngineParts } from './deps';
import { Tried, type Forward } from './forward';
import { grpcStatusOf } from './grpc';
import { applyEdits, responseFields } from './headerops';
import { answer } from './answer';
import { CallReport } from './callreport';
import { TryEvents } from './tryevents';
import { TRY_TIMEOUT, TRY_TIMEOUT_VERDICT, failureOutcome, failureVerdict, midResponseFlag, resendsUnprocessed, responseOutcome, retryStep } from './tryoutcome';
import type { HeaderList, L7Request, L7Sink, SinkEvents } from './types';
import { UpgradeTunnel, type TunnelOwner } from './upgrade';

const log = logger('l7');
/** A refusal of the client's own (tunnelsock.ts): the endpoint had no part in it. */
const NOT_MESH_WORKLOAD = CATALOG.NOT_MESH_WORKLOAD.code;

export class Call extends CallReport implements SinkEvents, BodyEvents, TunnelOwner {
  body: BodyReader | undefined;
  fwd: Forward | undefined;
  /** The breaker admitted this request: release it at the end. */
  admitted = false;
  /** Releases this request's HTTP/1 connection slot, or cancels its wait for one (engine.ts). */
  slot: (() => void) | undefined;
  finished = false;
  private policy: RetryPolicy | undefined;
  private readonly tried = new Tried();
  /** @internal the try whose events count (TryEvents checks it). */
  attempt: Attempt | undefined;
  private retries = 0;
  private retryInFlight = false;
  private resent = false;
  private committed = false;
  private respPaused = false;
  private waitTimer: NodeJS.Timeout | undefined;
  private tryTimer: NodeJS.Timeout | undefined;
  private routeTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private routeMs = 0;
  private coarse = false;
  /** When the coarse clock ends this call (Expiring); 0 = not on the clock. */
  deadline = 0;
  /** The current try's endpoint, which reports the try's outcome to its balancer (load, ejection). */
  private lease: Lease | undefined;
  /** The endpoint switched protocols (101): the client's and the try's connections are spliced. */
  tunnel: UpgradeTunnel | undefined;

  constructor(
    parts: EngineParts,
    req: L7Request,
    readonly sink: L7Sink,
    ctx: ConnContext,
  ) {
    super(parts, req, ctx);
  }

  // ---- admission outcomes -----------------------------------------------------------------------

  /** Answers locally (an error from the catalog, or any status and body) and ends the call. */
  local(status: number, body: string, flag: string | undefined, extra: HeaderList = [], grpcStatus?: number): void {
    if (this.finished) return;
    if (flag !== undefined && flag !== '-') this.addFlag(flag);
    const a = answer(this.sink, this.req, status, body, extra, grpcStatus);
    this.code = a.code;
    this.grpcStatus = a.grpcStatus;
    this.respBytes += a.bytes;
    this.finish();
  }

  fail(name: ErrorName, detail?: string): void {
    const e: { status?: number; flag?: string; message: string } = CATALOG[name];
    this.termination = detail ?? e.message;
    this.local(e.status ?? 500, e.message, e.flag);
  }

  /** Runs FN after MS unless the call ended meanwhile. */
  wait(ms: number, fn: () => void): void {
    this.waitTimer = setTimeout(() => this.guard(fn), ms);
  }

  /** Starts forwarding: timeouts, then the first try. COARSE: ROUTE_MS is the listener's default, kept by the coarse clock rather than a timer. */
  forward(fwd: Forward, body: BodyReader, routeMs: number, grpcMs: number | undefined, coarse = false): void {
    this.coarse = coarse;
    this.fwd = fwd;
    this.body = body;
    this.policy = fwd.route?.retries !== undefined && fwd.route.retries.attempts > 0 ? fwd.route.retries : undefined;
    this.routeMs = routeMs;
    if (grpcMs !== undefined && grpcMs > 0) {
      // grpc-timeout counts from the call's start; whichever of it and the route timeout fires first wins.
      const left = Math.max(0, grpcMs - (this.p.now() - this.t0));
      this.deadlineTimer = setTimeout(() => this.guard(() => this.timedOut()), left);
    }
    if (this.body.ended) this.ended();
    this.tryNext();
  }

  // ---- tries ------------------------------------------------------------------------------------

  private tryNext(): void {
    if (this.finished) return;
    const { dest, cb, hashKey } = this.fwd!;
    const input = this.tried.input(hashKey, this.ctx.vip.address);
    const lease = cb.lease(this.p.index().upstreams(dest.service, dest.port, this.ctx.vip), input, this.p.now());
    if (lease === undefined) return this.fail('NO_HEALTHY_UPSTREAM', 'no endpoints');
    if (lease.panic) this.p.metrics.panicPicks.inc({ service: dest.service.key });
    this.startAttempt(lease);
  }

  private startAttempt(lease: Lease): void {
    const { dest, head } = this.fwd!;
    const t = (this.target = lease.target);
    this.lease = lease;
    this.tried.add(t.key);
    const relay = this.p.dial?.(this.ctx.peer, t.addr);
    const key = relay !== undefined ? `relay|${relay.address}` : t.key;
    const ev = new TryEvents(this);
    // The resend after a stale pooled HTTP/1 connection (resent) takes a fresh one.
    const a = startTry(this.p, this.fwd!.h2, key, relay ?? t.addr, head, this.req.bodyless, attemptOptions(dest), ev, this.resent);
    ev.attempt = a;
    this.attempt = a;
    const per = this.policy?.perTryTimeoutMs;
    if (per !== undefined && per > 0) this.tryTimer = setTimeout(() => this.guard(() => this.tryTimedOut()), per);
    this.body!.attach(a);
  }

  /**
   * The current try is judged (its head, failure or timeout), once. A response head keeps the request
   * active on the endpoint until the response ends (finish releases it); anything else ends it now.
   */
  private settleTry(result: number | 'connect-failure' | 'reset' | 'timeout'): void {
    clearTimeout(this.tryTimer);
    this.tryTimer = undefined;
    this.endRetry();
    const lease = this.lease;
    if (lease === undefined || !lease.active) return;
    const now = this.p.now();
    const s = typeof result === 'number' ? lease.judge(result, now) : lease.settle(result, now);
    // nodemesh_endpoint_ejections_total is passive health's; outlier ejections have their own metric.
    if (result === 'connect-failure') this.p.metrics.connectFailure(lease.target, s.ejected && s.passive);
  }

  private endRetry(): void {
    if (!this.retryInFlight) return;
    this.retryInFlight = false;
    this.fwd!.budget.retryEnded();
  }

  /** @internal */
  onResponse(status: number, headers: HeaderList, endStream: boolean): void {
    this.settleTry(status);
    this.upstreamMs = this.p.now() - this.t0;
    const g = this.req.grpc ? grpcStatusOf(headers) : '';
    if (this.retryAfter(responseOutcome(status, g))) return;
    this.committed = true;
    this.body!.dropReplay();
    const fwd = this.fwd!;
    let out = applyEdits(responseFields(headers), fwd.responseEdits);
    if (fwd.setCookie !== undefined) out = [...out, ['set-cookie', fwd.setCookie]];
    this.code = status;
    this.grpcStatus = g;
    this.sink.respond(status, out, endStream);
    if (endStream) {
      this.upLocal = this.attempt!.localAddress();
      this.attempt = undefined;
      this.finish();
    }
  }

  /** @internal the endpoint answered the upgrade with 101: a byte tunnel until either side closes (upgrade.ts). */
  onUpgrade(headers: HeaderList): void {
    this.settleTry(101);
    this.upstreamMs = this.p.now() - this.t0;
    this.committed = true;
    this.body!.dropReplay();
    // The response head ended the request's wait: no route or grpc deadline cuts the tunnel.
    this.stopClocks();
    this.code = 101;
    this.tunnel = UpgradeTunnel.open(this.sink, headers, this.fwd!, this.attempt!, this);
    if (this.tunnel === undefined) this.gone();
  }

  /** @internal the tunnel closed: the request ends now, its bytes counted by finish(). */
  tunnelEnded(detail: string | undefined): void {
    if (detail !== undefined) this.termination ??= detail;
    this.finish();
  }

  /** @internal an informational response: passed on while nothing final was sent. */
  onInterim(status: number, headers: HeaderList): void {
    if (!this.committed) this.sink.interim?.(status, responseFields(headers));
  }

  /** @internal */
  onData(chunk: Buffer): void {
    if (this.tunnel !== undefined) return this.tunnel.upData(chunk);
    this.respBytes += chunk.length;
    if (!this.sink.write(chunk) && !this.respPaused) {
      this.respPaused = true;
      this.attempt!.pause();
    }
  }

  /** @internal */
  onEnd(trailers: HeaderList | undefined): void {
    if (this.tunnel !== undefined) return this.tunnel.upEnd();
    if (this.req.grpc && trailers !== undefined) this.grpcStatus = grpcStatusOf(trailers) || this.grpcStatus;
    this.upLocal = this.attempt!.localAddress();
    this.attempt = undefined;
    this.sink.end(trailers);
    this.finish();
  }

  /** @internal */
  onFailure(f: AttemptFailure): void {
    if (this.tunnel !== undefined) return this.tunnel.upClosed(f.message);
    this.upLocal = this.attempt!.localAddress();
    this.attempt = undefined;
    if (resendsUnprocessed(f, this.committed, this.resent, this.body!.replayable, !this.req.bodyless)) {
      clearTimeout(this.tryTimer);
      const now = this.p.now();
      this.lease!.release(now);
      this.resent = true;
      this.body!.detach();
      return this.startAttempt(this.lease!.again(now));
    }
    this.termination = f.message;
    if (f.afterHeaders || this.committed) {
      this.addFlag(midResponseFlag(f));
      this.sink.reset();
      return this.finish();
    }
    // Refused for the client (no mesh identity), not by the endpoint: nothing to judge it by, nothing a retry changes.
    const blameless = f.code === NOT_MESH_WORKLOAD;
    if (blameless) this.lease!.release(this.p.now());
    this.settleTry(f.kind === 'connect-failure' ? 'connect-failure' : 'reset');
    this.retryOrAnswer(failureOutcome(f), f, !blameless);
  }

  private tryTimedOut(): void {
    if (this.finished || this.committed || this.attempt === undefined) return;
    this.attempt.abort();
    this.upLocal = this.attempt.localAddress();
    this.attempt = undefined;
    this.settleTry('timeout');
    this.retryOrAnswer(TRY_TIMEOUT, undefined);
  }

  /** A try failed before its response head (F; undefined: its per-try timeout): retried, or answered with the failure. */
  private retryOrAnswer(outcome: AttemptOutcome, f: AttemptFailure | undefined, retriable = true): void {
    const flags = this.flags.length;
    if (retriable && this.retryAfter(outcome)) return;
    if (f === undefined) this.termination = 'per-try timeout';
    const v = f === undefined ? TRY_TIMEOUT_VERDICT : failureVerdict(f);
    // Envoy lists the failure's flag before URX.
    this.flags.splice(flags, 0, v.flag);
    this.local(v.status ?? 503, CATALOG[v.error].message, undefined);
  }

  /**
   * Schedules the next try after a backoff when retryStep allows a retry after OUTCOME; a response already
   * sent or a body no longer kept (past the replay bound) rules it out. A retry the attempts limit or the
   * budget refuses is counted and flags URX.
   */
  private retryAfter(outcome: AttemptOutcome): boolean {
    const body = this.body!;
    const step = retryStep(this.policy, outcome, this.req.grpc, !this.committed && body.replayable && !body.broken, this.retries);
    if (step === 'final') return false;
    const service = this.fwd!.dest.service.key;
    const verdict = step === 'limit' ? 'limit' : this.fwd!.budget.tryRetry();
    if (verdict !== 'ok') {
      this.p.metrics.retries.inc({ service, outcome: verdict });
      this.addFlag('URX');
      return false;
    }
    this.retryInFlight = true;
    this.retries++;
    this.p.metrics.retries.inc({ service, outcome: 'sent' });
    this.attempt?.abort();
    this.attempt = undefined;
    // A retried response head was judged; the request leaves that endpoint now.
    this.lease?.release(this.p.now());
    body.detach();
    this.wait(backoffMs(this.policy!, this.retries - 1, this.p.random), () => this.tryNext());
    return true;
  }

  // ---- client side ------------------------------------------------------------------------------

  /** The request body ended: the route timeout starts (Envoy's, from the end of the request). */
  ended(): void {
    if (this.finished || this.routeMs <= 0 || this.routeTimer !== undefined || this.deadline !== 0) return;
    if (!this.coarse) return void (this.routeTimer = setTimeout(() => this.guard(() => this.timedOut()), this.routeMs));
    const clock = this.p.deadlines;
    this.deadline = clock.now() + this.routeMs;
    clock.add(this);
  }

  /** @internal the coarse clock: the default request timeout passed. */
  expire(): void {
    this.guard(() => this.timedOut());
  }

  broken(): void {
    this.gone();
  }

  drain(): void {
    if (this.respPaused && this.attempt !== undefined) {
      this.respPaused = false;
      this.attempt.resume();
    }
  }

  /** The client went away (reset, closed, or broke the request framing). */
  gone(answered?: number): void {
    if (this.finished) return;
    if (answered !== undefined) this.code = answered;
    const dpe = this.ctx.protocolError;
    this.addFlag(dpe ? 'DPE' : 'DC');
    this.termination ??= dpe ? 'downstream protocol error' : 'downstream closed before the response completed';
    this.sink.reset();
    this.finish();
  }

  private timedOut(): void {
    if (this.finished || this.tunnel !== undefined) return;
    this.termination = 'upstream request timeout';
    this.addFlag('UT');
    // A try still waiting for its head timed out: the endpoint is judged by it (Envoy's local-origin
    // timeout), so one that accepts connections and never answers gets ejected.
    if (!this.committed && this.attempt !== undefined) this.settleTry('timeout');
    if (this.committed) {
      this.sink.reset();
      return this.finish();
    }
    this.local(504, CATALOG.UPSTREAM_TIMEOUT.message, undefined);
  }

  // ---- the end ----------------------------------------------------------------------------------

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.stopClocks();
    this.tunnel?.close();
    const a = this.attempt;
    this.attempt = undefined;
    if (a !== undefined) {
      this.upLocal = a.localAddress();
      a.abort();
    }
    // Ended with the try still out (client gone, route timeout): release its load, judge nothing.
    this.lease?.release(this.p.now());
    this.body?.close();
    const slot = this.slot;
    this.slot = undefined;
    slot?.();
    if (this.fwd !== undefined) {
      if (this.admitted) this.fwd.cb.breaker.requestDone();
      this.endRetry();
      this.fwd.budget.requestEnded();
    }
    if (this.tunnel !== undefined) this.respBytes += this.tunnel.toClient;
    this.report(this.fwd?.dest, (this.body?.bytes ?? 0) + (this.tunnel?.fromClient ?? 0));
  }

  private stopClocks(): void {
    clearTimeout(this.waitTimer);
    clearTimeout(this.tryTimer);
    clearTimeout(this.routeTimer);
    this.routeTimer = undefined;
    if (this.coarse) this.p.deadlines.delete(this);
    this.deadline = 0;
    clearTimeout(this.deadlineTimer);
  }

  /** Runs FN; a throw costs this request only (the client stream is reset), never the process. */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.bug(err);
    }
  }

  bug(err: unknown): void {
    log.error({ err }, 'request handling failed');
    try {
      this.termination = 'internal error';
      this.sink.reset();
      this.finish();
    } catch (e) {
      log.error({ err: e }, 'request cleanup failed');
    }
  }
}
