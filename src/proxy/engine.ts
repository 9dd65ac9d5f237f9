// The L7 engine: executes the traffic-management decisions for one request, whatever its protocol.
// An engine is built with the admission of its side of the mesh. The source side's is the default, in
// Envoy's order: route (no route → 404 NR, redirect, direct response), local rate limits (429 RL), fault
// injection (delay, then abort: FI), the connection-pool breaker (503 UO), then header edits, rewrites,
// the consistent-hash key and mirrors. The destination side's authorizes and delivers to the tunnel
// stream's pod (destination.ts). Either way call.ts carries the request upstream and records it.
import { UNLIMITED, type Breaker } from '../balance/breaker';
import { RetryBudget } from '../route/retry';
import { decideFault, type FaultDecision } from '../route/fault';
import type { ResolvedDestination, RouteDecision } from '../route/types';
import { CATALOG } from '../errors';
import type { ConnContext } from '../conn/context';
import { logger } from '../log';
import { defaultHost, droppedRequestField, nextRequestSeq, requestIdOf } from '../codec/headers';
import { BodyReader } from './body';
import { Call } from './call';
import type { Forward } from './forward';
import { resolveDeps, type EngineDeps, type EngineParts } from './deps';
import { grpcTimeoutMs } from './grpc';
import { hashKeyOf } from './hashkey';
import { addProxyFields, applyEdits } from './headerops';
import { MirrorCopy } from './mirror';
import type { HeaderList, L7Handler, L7Request, L7Sink } from './types';
import type { RawRequestHead, UpstreamHead } from '../upstream/attempt';
import { upstreamH2 } from '../upstream/protocol';
import { addedLines, applyTraceEdits, type TraceEdits } from '../telemetry/tracecontext';
import { currentTracing } from '../telemetry/tracing';

const log = logger('l7');

/**
 * What decides a request's fate before it goes upstream: an answer of the proxy's own (call.local,
 * call.fail), or forwarding (call.forward). One per side of the mesh, so a side's policy is one module
 * and the executor (tries, transports, records) is shared. Runs inside the engine's guard.
 */
export interface Admission {
  /** DECIDED: the route the HTTP/1 planner drew already (source side), so it is not drawn twice. */
  admit(call: Call, decided: RouteDecision | undefined): void;
}

export class L7Engine implements L7Handler {
  readonly parts: EngineParts;
  private readonly budgets = new Map<string, { max: number | undefined; budget: RetryBudget }>();
  private readonly admission: Admission;

  /** ADMISSION: the destination side's (destination.ts); the source side's routing by default. */
  constructor(deps: EngineDeps, admission?: Admission) {
    this.parts = resolveDeps(deps);
    this.admission = admission ?? { admit: (call, decided) => this.admit(call, decided) };
  }

  /** Runs REQ to completion, answering on SINK. Never throws: a failure costs this request only. */
  handle(req: L7Request, sink: L7Sink, ctx: ConnContext, decision?: RouteDecision): void {
    let call: Call | undefined;
    try {
      call = new Call(this.parts, req, sink, ctx);
      sink.watch(call);
      this.admission.admit(call, decision);
    } catch (err) {
      if (call !== undefined) call.bug(err);
      else {
        log.error({ err }, 'request handling failed');
        sink.reset();
      }
    }
  }

  /** Closes the upstream pools the engine made (a given pool belongs to its owner). */
  close(): void {
    for (const p of this.parts.owned) p.close();
  }

  /** The source side's admission. */
  private admit(call: Call, decided: RouteDecision | undefined): void {
    const p = this.parts;
    const { req, ctx } = call;
    // Follow reloads: a long-lived connection re-resolves its service when the index was swapped.
    ctx.upstreams(p.index());
    call.service = ctx.service;
    call.cluster = ctx.cluster;
    call.requestId = req.header('x-request-id') ?? null;
    // The client's workload decides its Telemetry (source side): sampling, span reporting, access log.
    call.trace = (p.tracing ?? currentTracing()).begin((n) => req.header(n), 'CLIENT', ctx.source.namespace === 'unknown' ? undefined : ctx.source);
    const router = p.index().router;
    const d = decided ?? router.route(ctx.service, ctx.port, req, p.random);
    switch (d.kind) {
      case 'no-route':
        return call.fail('ROUTE_NOT_FOUND');
      case 'redirect':
        return call.local(d.status, '', undefined, applyEdits([['location', d.location]], d.headers?.response));
      case 'direct':
        if (d.noCluster === true) call.note('no cluster for the route destination');
        return call.local(d.status, d.body ?? '', d.noCluster === true ? 'NC' : undefined, applyEdits([], d.headers?.response));
    }
    const limits = router.rateLimits(ctx.service, ctx.port.number, d.route);
    if (limits.length > 0) {
      const r = p.rateLimiter.takeAll(limits, req, p.now());
      if (!r.ok) {
        p.metrics.rateLimited.inc({ service: ctx.service.key, limit: `${r.limit.namespace}/${r.limit.name}` });
        return call.local(429, CATALOG.RATE_LIMITED.message, 'RL', [['retry-after', String(r.retryAfterS)]]);
      }
    }
    const fault = d.route?.fault === undefined ? undefined : decideFault(d.route.fault, p.random, req.grpc);
    if (fault === undefined) return this.proceed(call, d);
    if (fault.delayMs > 0) {
      p.metrics.faults.inc({ service: ctx.service.key, kind: 'delay' });
      call.addFlag('DI');
      return call.wait(fault.delayMs, () => this.afterDelay(call, d, fault));
    }
    this.afterDelay(call, d, fault);
  }

  private afterDelay(call: Call, d: Extract<RouteDecision, { kind: 'forward' }>, fault: FaultDecision): void {
    if (call.finished) return;
    if (fault.abort === undefined) return this.proceed(call, d);
    this.parts.metrics.faults.inc({ service: call.ctx.service.key, kind: 'abort' });
    call.local(fault.abort.status, CATALOG.FAULT_ABORT.message, 'FI', [], fault.abort.grpcStatus);
  }

  private proceed(call: Call, d: Extract<RouteDecision, { kind: 'forward' }>): void {
    const p = this.parts;
    const { req, ctx } = call;
    const dest = d.to;
    const cb = p.balancers.for(dest);
    // An upgrade (WebSocket) goes to the endpoint over HTTP/1.1, whatever the port's protocol policy.
    const h2 = req.upgrade === undefined && upstreamH2(dest.port.protocol, req.protocol === 'HTTP/2', req.grpc, dest.policy.connectionPool);
    if (!h2 && call.slot === undefined && !this.connectionSlot(call, d, cb.breaker)) return;
    if (cb.breaker.tryRequest() === 'overflow') {
      p.metrics.overflows.inc({ service: dest.service.key, limit: 'requests' });
      return call.local(503, CATALOG.UPSTREAM_OVERFLOW.message, 'UO');
    }
    call.admitted = true;
    // The request id goes upstream and into the access log; one is made when the client sent none.
    const idSeq = call.requestId === null ? nextRequestSeq() : -1;
    if (idSeq >= 0) call.requestId = requestIdOf(idSeq);
    const authority = d.rewrite?.authority ?? (req.authority !== '' ? req.authority : defaultHost(ctx.service.hosts[0], ctx.port.number, ctx.vip.address));
    const head = new ForwardHead(req, d, authority, idSeq >= 0 ? call.requestId! : undefined, idSeq, call.trace?.edits);
    const lb = dest.policy.loadBalancer;
    const hash = hashKeyOf(lb !== undefined && 'consistentHash' in lb ? lb.consistentHash.key : undefined, req, () => cookieToken(p.random));
    const fwd: Forward = {
      dest,
      cb,
      route: d.route,
      head,
      h2,
      responseEdits: d.headers?.response,
      hashKey: hash.key,
      setCookie: hash.setCookie,
      budget: this.budgetFor(dest),
    };
    fwd.budget.requestStarted();
    // A request known to have no body (HTTP/2 END_STREAM on its headers, HTTP/1 without length or
    // chunks) has nothing to read: no stream is made or listened to. A body is kept up to the replay
    // bound until the response head even without retries: a request the upstream never processed (a
    // stream refused above a GOAWAY's last id, a pooled connection it had closed) is sent once more.
    const empty = req.bodyless;
    const body = new BodyReader(req, () => req.trailers(), p.maxReplayBytes, call, empty);
    // A tunnel is not mirrored (Envoy mirrors no upgrade either).
    for (const m of req.upgrade === undefined ? d.mirrors : []) {
      if (m.percent < 100 && p.random() * 100 >= m.percent) continue;
      const copy = MirrorCopy.start(p, ctx, m, head, upstreamH2(m.to.port.protocol, req.protocol === 'HTTP/2', req.grpc, m.to.policy.connectionPool), req.bodyless);
      if (copy !== undefined) body.addTap(copy);
    }
    // Istio leaves the route timeout off unless a VirtualService sets one; plain HTTP keeps the
    // listener's request timeout as before, gRPC (often long streams) only its own grpc-timeout.
    const routeMs = d.route?.timeoutMs ?? (req.grpc ? 0 : p.timeouts.requestMs);
    call.forward(fwd, body, routeMs, req.grpc ? grpcTimeoutMs(req.header('grpc-timeout')) : undefined, d.route?.timeoutMs === undefined);
  }

  /**
   * HTTP/1.1 upstreams (the tries' protocol: upstream/protocol.ts) carry one request per connection at
   * a time, so connectionPool.tcp.maxConnections bounds the requests in flight to the cluster; up to
   * http1MaxPendingRequests more wait in FIFO order for a slot (Envoy's pending queue), and beyond that
   * the request overflows (503 UO). False when the request waits or was answered.
   */
  private connectionSlot(call: Call, d: Extract<RouteDecision, { kind: 'forward' }>, b: Breaker): boolean {
    if (b.limits.maxConnections >= UNLIMITED) return true;
    const take = (): void => {
      b.connectionOpened();
      call.slot = () => b.connectionClosed();
    };
    const decision = b.connectDecision();
    if (decision === 'open') {
      take();
      return true;
    }
    const waiting = decision === 'pending' ? b.enqueue(() => {
      if (call.finished) return;
      take();
      this.proceed(call, d);
    }) : undefined;
    if (waiting === undefined) {
      this.parts.metrics.overflows.inc({ service: d.to.service.key, limit: 'pending' });
      call.local(503, CATALOG.UPSTREAM_OVERFLOW.message, 'UO');
      return false;
    }
    call.slot = () => waiting.cancel();
    return false;
  }

  /** The retry budget of a cluster (Envoy's: a share of its active requests; maxRetries caps it). */
  private budgetFor(dest: ResolvedDestination): RetryBudget {
    const max = dest.policy.connectionPool?.maxRetries;
    const have = this.budgets.get(dest.cluster);
    if (have !== undefined && have.max === max) return have.budget;
    const budget = new RetryBudget({ ...this.parts.retryBudget, ...(max !== undefined ? { maxRetries: max } : {}) });
    this.budgets.set(dest.cluster, { max, budget });
    return budget;
  }
}

/**
 * Where a forwarded request goes, as the tries send it. The field list is built only when a transport
 * asks for it: an HTTP/1 request the route leaves as it is goes upstream as its own head's bytes (raw).
 */
class ForwardHead implements UpstreamHead {
  readonly method: string;
  readonly path: string;
  readonly raw: RawRequestHead | undefined;
  readonly upgrade: string | undefined;
  private list: HeaderList | undefined;

  constructor(
    private readonly req: L7Request,
    private readonly d: Extract<RouteDecision, { kind: 'forward' }>,
    readonly authority: string,
    /** The x-request-id the proxy made (the client sent none). */
    private readonly madeId: string | undefined,
    idSeq: number,
    /** Trace fields for the upstream hop (telemetry/tracecontext.ts); undefined = as they came. */
    private readonly trace: TraceEdits | undefined,
  ) {
    this.method = req.method;
    this.path = d.rewrite?.path ?? req.path;
    this.upgrade = req.upgrade;
    const h = req.rawHead;
    // The raw copy can add fields but not replace them: replaced trace fields take the list.
    const extra = trace === undefined || h === undefined ? undefined : addedLines(trace);
    this.raw = h !== undefined && d.rewrite === undefined && d.headers?.request === undefined && (trace === undefined || extra !== undefined)
      ? { head: h, host: h.hostCount === 0 ? authority : '', idSeq: h.requestIdIdx < 0 ? idSeq : -1, ...(extra !== undefined ? { extra } : {}) }
      : undefined;
  }

  /** The client's HTTP/2 head forwarded in one pass (no pairs, no copies), when the route edits no field. */
  flat(scheme: string): string[] {
    const h = this.req.flatHead;
    if (h === undefined || this.d.headers?.request !== undefined) return flatOf(this, scheme);
    const out = [':method', this.method, ':scheme', scheme, ':authority', this.authority, ':path', this.path];
    const remove = this.trace?.remove ?? NO_NAMES;
    let hasId = false;
    let hasXfp = false;
    for (let i = 0; i + 1 < h.length; i += 2) {
      const k = h[i]!;
      if (k.charCodeAt(0) === 58 /* : */) continue;
      const v = h[i + 1]!;
      if (k === 'te') {
        if (v.toLowerCase().split(',').some((t) => t.trim() === 'trailers')) out.push('te', 'trailers');
        continue;
      }
      if (droppedRequestField(k) || (remove.length > 0 && remove.includes(k))) continue;
      if (k === 'x-request-id') hasId = true;
      else if (k === 'x-forwarded-proto') hasXfp = true;
      out.push(k, v);
    }
    // As addProxyFields and applyTraceEdits do for the list.
    if (this.madeId !== undefined && !hasId) out.push('x-request-id', this.madeId);
    if (!hasXfp) out.push('x-forwarded-proto', 'http');
    if (this.trace !== undefined) for (const [k, v] of this.trace.add) out.push(k, v);
    return out;
  }

  get headers(): HeaderList {
    if (this.list === undefined) {
      const edited = applyEdits(this.req.headers(), this.d.headers?.request);
      this.list = applyTraceEdits(addProxyFields(edited, { requestId: this.madeId }), this.trace);
    }
    return this.list;
  }
}

const NO_NAMES: readonly string[] = [];

/** The flat HTTP/2 request head from the field list. */
function flatOf(head: UpstreamHead, scheme: string): string[] {
  const out = [':method', head.method, ':scheme', scheme, ':authority', head.authority, ':path', head.path];
  for (const [k, v] of head.headers) out.push(k, v);
  return out;
}

/** A fresh hash-cookie value: 16 hex digits from the injected random. */
function cookieToken(random: () => number): string {
  let s = '';
  for (let i = 0; i < 4; i++) s += Math.floor(random() * 0x10000).toString(16).padStart(4, '0');
  return s;
}
