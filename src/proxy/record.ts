// The engine's answers of its own (errors, rate limits, faults, redirects, direct responses), as plain
// text for HTTP clients and as trailers-only responses for gRPC clients; and the one record per
// finished request: Istio metrics (request_protocol "grpc" for gRPC; the connection context picks the
// reporter's labels) and the Envoy-style access log, one entry per side as Envoy writes them.
import type { Service } from '../config/model';
import type { Target } from '../balance/target';
import type { ConnContext } from '../conn/context';
import { formatAddr } from '../telemetry/accesslog';
import type { EngineParts } from './deps';
import { grpcStatusForHttp, trailersOnly } from './grpc';
import type { HeaderList, L7Request, L7Sink } from './types';

export interface LocalAnswer {
  /** :status sent (200 for a gRPC trailers-only answer). */
  readonly code: number;
  /** grpc-status sent, '' for HTTP. */
  readonly grpcStatus: string;
  readonly bytes: number;
}

/**
 * Answers REQ with STATUS and BODY (text/plain), or for gRPC with a trailers-only response carrying
 * GRPC_STATUS (default: STATUS mapped as gRPC specifies) and BODY as grpc-message.
 */
export function answer(sink: L7Sink, req: L7Request, status: number, body: string, extra: HeaderList = [], grpcStatus?: number): LocalAnswer {
  if (req.grpc) {
    const g = grpcStatus ?? grpcStatusForHttp(status);
    sink.respond(200, [...trailersOnly(g, body), ...extra], true);
    return { code: 200, grpcStatus: String(g), bytes: 0 };
  }
  const data = Buffer.from(body, 'utf8');
  const head = req.method === 'HEAD' || data.length === 0 || status === 204 || status === 304;
  const headers: (readonly [string, string])[] = [...extra];
  if (data.length > 0) headers.push(['content-type', 'text/plain'], ['content-length', String(data.length)]);
  else if (status !== 204 && status !== 304) headers.push(['content-length', '0']);
  sink.respond(status, headers, head);
  if (!head) {
    sink.write(data);
    sink.end();
  }
  return { code: status, grpcStatus: '', bytes: head ? 0 : data.length };
}

/** Everything one finished request reports. */
export interface CallRecord {
  readonly code: number;
  /** Envoy response flags, comma-joined, '-' when none. */
  readonly flags: string;
  readonly grpcStatus: string;
  readonly durationMs: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  /** Request start to the upstream response head; < 0 when none came. */
  readonly upstreamMs: number;
  readonly service: Service;
  readonly target: Target | undefined;
  readonly cluster: string;
  readonly upstreamLocal: string | null;
  readonly requestId: string | null;
  readonly termination: string | null;
}

export function record(parts: EngineParts, ctx: ConnContext, req: L7Request, r: CallRecord): void {
  // The context knows which side reports (source or destination labels).
  const stats = ctx.requestStats(parts.metrics, req.grpc, r.service, r.target);
  stats.record(r.code, r.flags, r.durationMs, r.requestBytes, r.responseBytes, r.grpcStatus);
  if (!parts.accessLog.enabled) return;
  parts.accessLog.write({
    start_time: new Date(Date.now() - r.durationMs).toISOString(),
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
    downstream_local_address: formatAddr(ctx.vip),
    downstream_remote_address: formatAddr(ctx.peer),
    connection_termination_details: r.termination,
  });
}
