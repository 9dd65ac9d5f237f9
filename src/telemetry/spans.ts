// The span of one finished request, with the attributes Envoy's Istio tracing writes (node_id,
// component, upstream_cluster, http.*, response_flags, request/response sizes, peer.address,
// guid:x-request-id, istio.canonical_service/revision/namespace) and OpenTelemetry's HTTP names
// (http.request.method, http.response.status_code). CLIENT on the source side, SERVER on the
// destination side; named as Envoy names them, `<host>:<port>/*`. Pure.
import type { Endpoint, Service } from '../config/model';
import { canonicalRevision, canonicalService, UNKNOWN, type SourceInfo } from './labels';
import { SPAN_KIND_CLIENT, SPAN_KIND_SERVER, type Attr, type SpanRecord } from './otlp';
import type { RequestTrace } from './tracing';

/** What the span reads of the connection (ConnContext satisfies it). */
export interface SpanConn {
  readonly source: SourceInfo;
  readonly port: { readonly number: number };
  readonly peerText: string;
  readonly vipText: string;
}

export interface SpanRequest {
  readonly method: string;
  readonly path: string;
  readonly protocol: string;
  readonly authority: string;
  readonly grpc: boolean;
  header(name: string): string | undefined;
}

/** What a finished request reports that its span shows (telemetry/record.ts CallRecord adds the rest). */
export interface SpanResult {
  readonly code: number;
  /** Envoy response flags, comma-joined, '-' when none. */
  readonly flags: string;
  readonly grpcStatus: string;
  readonly durationMs: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly service: Service;
  readonly target: { readonly key: string; readonly endpoint: Endpoint | undefined } | undefined;
  readonly cluster: string;
  readonly requestId: string | null;
}

/** The workload this side reports for: the client's (source side) or the pod's (destination side). */
function own(t: RequestTrace, conn: SpanConn, r: SpanResult): { service: string; revision: string; namespace: string } {
  if (t.side === 'CLIENT') {
    const s = conn.source;
    return { service: s.canonicalService, revision: s.canonicalRevision, namespace: s.namespace };
  }
  // A request answered before any try (an authorization denial, a JWT refusal) still belongs to the pod.
  const ep = r.target?.endpoint ?? t.workload;
  if (ep === undefined) return { service: UNKNOWN, revision: UNKNOWN, namespace: r.service.namespace || UNKNOWN };
  return { service: canonicalService(ep.labels, ep.workload ?? r.service.name), revision: canonicalRevision(ep.labels), namespace: ep.namespace || UNKNOWN };
}

export function spanOf(t: RequestTrace, conn: SpanConn, req: SpanRequest, r: SpanResult, nowMs = Date.now()): SpanRecord {
  const c = t.context;
  const w = own(t, conn, r);
  const host = r.service.hosts[0] ?? r.service.name;
  const attrs: Attr[] = [
    ['node_id', t.tracing.nodeId],
    ['component', 'proxy'],
    ['upstream_cluster', r.cluster],
    ['upstream_cluster.name', r.cluster],
    ['http.method', req.method],
    ['http.url', `http://${req.authority || host}${req.path}`],
    ['http.protocol', req.protocol],
    ['http.status_code', String(r.code)],
    ['http.request.method', req.method],
    ['http.response.status_code', r.code],
    ['response_flags', r.flags],
    ['request_size', String(r.requestBytes)],
    ['response_size', String(r.responseBytes)],
    ['peer.address', conn.peerText],
    ['downstream_cluster', '-'],
    ['istio.canonical_service', w.service],
    ['istio.canonical_revision', w.revision],
    ['istio.namespace', w.namespace],
  ];
  if (r.requestId !== null) attrs.push(['guid:x-request-id', r.requestId]);
  const ua = req.header('user-agent');
  if (ua !== undefined) attrs.push(['user_agent', ua]);
  if (r.target !== undefined) attrs.push(['upstream.address', r.target.key]);
  if (conn.source.principal !== UNKNOWN) attrs.push(['istio.source_principal', conn.source.principal]);
  if (req.grpc && r.grpcStatus !== '') attrs.push(['grpc.status_code', r.grpcStatus]);
  const error = r.code === 0 || r.code >= 500;
  if (error) attrs.push(['error', 'true']);
  const service = t.tracing.serviceName ?? (w.service !== UNKNOWN ? `${w.service}.${w.namespace}` : 'nodemesh');
  return {
    traceId: c.traceId,
    spanId: c.spanId,
    parentId: c.parentId,
    tracestate: c.tracestate,
    name: `${host}:${conn.port.number}/*`,
    kind: t.side === 'CLIENT' ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER,
    startMs: nowMs - r.durationMs,
    endMs: nowMs,
    attributes: attrs,
    error,
    service,
  };
}
