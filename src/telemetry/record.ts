// The one record per finished request: Istio metrics (request_protocol "grpc" for gRPC; the
// connection context picks the reporter's labels, source or destination) and the Envoy-style access
// log, one entry per side as Envoy writes them, and the side's span when it is traced (spans.ts). Every
// request ending of the executor comes here.
import type { Target } from '../balance/target';
import type { ConnContext } from '../conn/context';
import { startTime, type AccessLog } from './accesslog';
import type { Metrics } from './metrics';
import { spanOf, type SpanRequest, type SpanResult } from './spans';
import type { RequestTrace } from './tracing';

/** Everything one finished request reports. */
export interface CallRecord extends SpanResult {
  /** Request start to the upstream response head; < 0 when none came. */
  readonly upstreamMs: number;
  readonly target: Target | undefined;
  readonly upstreamLocal: string | null;
  readonly termination: string | null;
  /** The request's tracing (a span when recorded; the access log's trace_id); absent = untraced. */
  readonly trace?: RequestTrace;
}

/** What the record reads of the request (proxy/types.ts L7Request satisfies it): the span's shape. */
export type RecordedRequest = SpanRequest;

export function record(metrics: Metrics, accessLog: AccessLog, ctx: ConnContext, req: RecordedRequest, r: CallRecord): void {
  // The context knows which side reports (source or destination labels).
  const stats = ctx.requestStats(metrics, req.grpc, r.service, r.target);
  stats.record(r.code, r.flags, r.durationMs, r.requestBytes, r.responseBytes, r.grpcStatus);
  const trace = r.trace;
  if (trace?.recorded === true && trace.tracing.admit()) trace.tracing.report(spanOf(trace, ctx, req, r));
  if (!accessLog.enabled || trace?.accessLogOff === true) return;
  accessLog.write({
    start_time: startTime(r.durationMs),
    method: req.method,
    path: req.path,
    protocol: req.protocol,
    response_code: r.code,
    response_flags: r.flags,
    bytes_received: r.requestBytes,
    bytes_sent: r.responseBytes,
    duration: Math.round(r.durationMs),
    upstream_service_time: r.upstreamMs >= 0 ? Math.round(r.upstreamMs) : null,
    x_forwarded_for: req.header('x-forwarded-for') ?? null,
    user_agent: req.header('user-agent') ?? null,
    request_id: r.requestId,
    authority: req.authority === '' ? null : req.authority,
    upstream_host: r.target?.key ?? null,
    upstream_cluster: r.cluster,
    upstream_local_address: r.upstreamLocal,
    downstream_local_address: ctx.vipText,
    downstream_remote_address: ctx.peerText,
    connection_termination_details: r.termination,
    trace_id: trace?.context.traceId ?? null,
  });
}
