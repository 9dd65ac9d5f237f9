// Istio standard metric labels, built from the mesh model. Pure: the same inputs give the same labels,
// and the table tests pin Istio's names and fallbacks (dashboards and Kiali query them verbatim).
import type { Endpoint, Service, Workload } from '../config/model';

export const UNKNOWN = 'unknown';

/** Who opened the connection. Every field "unknown" until workload identity by pod IP lands. */
export interface SourceInfo {
  readonly workload: string;
  readonly namespace: string;
  readonly principal: string;
  readonly app: string;
  readonly version: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly cluster: string;
  /** The workload's labels (VirtualService sourceLabels matches); not a metric label. */
  readonly labels: Readonly<Record<string, string>>;
  /** The workload's SPIFFE id as the router and rate limits see it ('' unknown); not a metric label. */
  readonly identity: string;
}

export const UNKNOWN_SOURCE: SourceInfo = Object.freeze({
  workload: UNKNOWN,
  namespace: UNKNOWN,
  principal: UNKNOWN,
  app: UNKNOWN,
  version: UNKNOWN,
  canonicalService: UNKNOWN,
  canonicalRevision: UNKNOWN,
  cluster: UNKNOWN,
  labels: Object.freeze({}),
  identity: '',
});

export interface DestinationInfo {
  readonly workload: string;
  readonly workloadNamespace: string;
  readonly principal: string;
  readonly app: string;
  readonly version: string;
  readonly service: string;
  readonly serviceName: string;
  readonly serviceNamespace: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly cluster: string;
}

type LabelMap = Readonly<Record<string, string>>;

/** Istio's canonical service: its own label, then the recommended k8s label, then `app`. */
export function canonicalService(labels: LabelMap, fallback: string): string {
  return labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels['app'] ?? fallback;
}

/** Istio's canonical revision; Istio itself reports "latest" when no label names one. */
export function canonicalRevision(labels: LabelMap): string {
  return labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels['version'] ?? 'latest';
}

function app(labels: LabelMap): string {
  return labels['app'] ?? labels['app.kubernetes.io/name'] ?? UNKNOWN;
}

function version(labels: LabelMap): string {
  return labels['version'] ?? labels['app.kubernetes.io/version'] ?? UNKNOWN;
}

const NO_LABELS: LabelMap = Object.freeze({});

/** Source labels for a known workload (the identity module will call this with the pod found by IP). */
export function sourceFromWorkload(w: Workload, cluster = UNKNOWN, principal = UNKNOWN, identity = ''): SourceInfo {
  return {
    workload: w.name,
    namespace: w.namespace,
    principal,
    app: app(w.labels),
    version: version(w.labels),
    canonicalService: canonicalService(w.labels, w.name),
    canonicalRevision: canonicalRevision(w.labels),
    cluster,
    labels: w.labels,
    identity: identity || (principal === UNKNOWN ? '' : principal),
  };
}

/**
 * A `sourceOf` for the outbound listener: client IP → workload → SourceInfo, interned per Workload
 * object (metric handles are cached by SourceInfo identity, so the same workload must map to one object).
 */
export function sourceResolver(
  workloadByIp: (ip: string) => Workload | undefined,
  cluster = UNKNOWN,
  identityOf: (w: Workload) => string = () => '',
): (peer: { address: string }) => SourceInfo {
  const interned = new WeakMap<Workload, SourceInfo>();
  return (peer) => {
    const w = workloadByIp(peer.address);
    if (w === undefined) return UNKNOWN_SOURCE;
    let s = interned.get(w);
    if (s === undefined) {
      s = Object.freeze(sourceFromWorkload(w, cluster, UNKNOWN, identityOf(w)));
      interned.set(w, s);
    }
    return s;
  };
}

/**
 * destination_* from the Service (host, name, namespace) and the chosen Endpoint (workload and its
 * labels). The principal stays "unknown" on the source side until the connection is mTLS.
 */
export function destinationInfo(service: Service | undefined, endpoint: Endpoint | undefined, cluster = UNKNOWN): DestinationInfo {
  const labels = endpoint?.labels ?? NO_LABELS;
  const workload = endpoint?.workload ?? UNKNOWN;
  return {
    workload,
    workloadNamespace: endpoint?.namespace || UNKNOWN,
    principal: UNKNOWN,
    app: app(labels),
    version: version(labels),
    service: service?.hosts[0] ?? UNKNOWN,
    serviceName: service?.name || UNKNOWN,
    serviceNamespace: service?.namespace || UNKNOWN,
    canonicalService: canonicalService(labels, endpoint === undefined ? UNKNOWN : workload),
    canonicalRevision: endpoint === undefined ? UNKNOWN : canonicalRevision(labels),
    cluster,
  };
}

/** Label names of the HTTP metrics, in Istio's order. */
export const HTTP_LABEL_NAMES = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_canonical_revision',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

/** TCP metrics carry no response_code / grpc_response_status, as in Istio. */
export const TCP_LABEL_NAMES = HTTP_LABEL_NAMES.filter((n) => n !== 'response_code' && n !== 'grpc_response_status');

export type Reporter = 'source' | 'destination' | 'waypoint';

/** The labels every metric of one (source, destination) pair shares; response fields are added per series. */
export function baseLabels(reporter: Reporter, src: SourceInfo, dst: DestinationInfo, protocol: string, securityPolicy: string): Record<string, string> {
  return {
    reporter,
    source_workload: src.workload,
    source_workload_namespace: src.namespace,
    source_principal: src.principal,
    source_app: src.app,
    source_version: src.version,
    source_canonical_service: src.canonicalService,
    source_canonical_revision: src.canonicalRevision,
    source_cluster: src.cluster,
    destination_workload: dst.workload,
    destination_workload_namespace: dst.workloadNamespace,
    destination_principal: dst.principal,
    destination_app: dst.app,
    destination_version: dst.version,
    destination_service: dst.service,
    destination_service_name: dst.serviceName,
    destination_service_namespace: dst.serviceNamespace,
    destination_canonical_service: dst.canonicalService,
    destination_canonical_revision: dst.canonicalRevision,
    destination_cluster: dst.cluster,
    request_protocol: protocol,
    connection_security_policy: securityPolicy,
  };
}

/**
 * Full HTTP label set. grpc_response_status is "" for plain HTTP, which is what Istio reports (it is not
 * unknown, it does not apply); response_code "0" means no response was sent (Envoy's convention).
 */
export function httpLabels(base: LabelMap, code: number, flags: string, grpcStatus = ''): Record<string, string> {
  return { ...base, response_code: String(code), grpc_response_status: grpcStatus, response_flags: flags || '-' };
}

export function tcpLabels(base: LabelMap, flags: string): Record<string, string> {
  return { ...base, response_flags: flags || '-' };
}
