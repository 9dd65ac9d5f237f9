// The error catalog: every failure the agent reports has a stable code (for logs, metrics, docs and
// tests to key on), a one-line default message, and for traffic errors the HTTP status and Envoy-style
// response flag that users already read in Istio access logs.

export interface CatalogEntry {
  readonly code: string;
  readonly message: string;
  readonly status?: number;
  readonly flag?: string;
}

export const CATALOG = {
  // Startup and environment (exit early with a message naming what is missing).
  NOT_PRIVILEGED: { code: 'NM_E_NOT_PRIVILEGED', message: 'the agent needs root or CAP_BPF+CAP_NET_ADMIN+CAP_SYS_ADMIN to load eBPF programs' },
  NO_BPFFS: { code: 'NM_E_NO_BPFFS', message: 'no bpf filesystem mounted at the pin directory' },
  NO_CGROUP2: { code: 'NM_E_NO_CGROUP2', message: 'the cgroup directory is not on a cgroup v2 (unified) hierarchy' },
  BPF_OBJECT: { code: 'NM_E_BPF_OBJECT', message: 'the compiled eBPF object could not be opened or loaded' },
  BPF_ATTACH: { code: 'NM_E_BPF_ATTACH', message: 'an eBPF program could not be attached' },
  BPF_MAP: { code: 'NM_E_BPF_MAP', message: 'an eBPF map operation failed' },
  NATIVE: { code: 'NM_E_NATIVE', message: 'the native libbpf shim could not be loaded (run make)' },
  LISTEN: { code: 'NM_E_LISTEN', message: 'a listener could not bind its port' },
  USAGE: { code: 'NM_E_USAGE', message: 'invalid command line' },
  NO_PINS: { code: 'NM_E_NO_PINS', message: 'no nodemesh pins in the pin directory' },
  INTERNAL: { code: 'NM_E_INTERNAL', message: 'an internal error was caught; the agent keeps running' },

  // Configuration (never applied; the last good config keeps serving).
  CONFIG_READ: { code: 'NM_E_CONFIG_READ', message: 'the config file or directory could not be read' },
  CONFIG_YAML: { code: 'NM_E_CONFIG_YAML', message: 'malformed YAML' },
  CONFIG_SCHEMA: { code: 'NM_E_CONFIG_SCHEMA', message: 'a config document is invalid' },
  CONFIG_CONFLICT: { code: 'NM_E_CONFIG_CONFLICT', message: 'config documents conflict with each other' },
  MAP_CAPACITY: { code: 'NM_E_MAP_CAPACITY', message: 'the config needs more kernel map entries than the maps were created with' },
  // Not a config problem: the read is retried with backoff and the reload gauge is left as it is.
  CONFIG_IO: { code: 'NM_E_CONFIG_IO', message: 'the config could not be read (I/O error); the last good config keeps serving and the read is retried' },

  // Kubernetes discovery (the last known state keeps serving).
  KUBE_API: { code: 'NM_E_KUBE_API', message: 'the Kubernetes API could not be reached or refused a request; the last known state keeps serving' },
  KUBE_OBJECT: { code: 'NM_E_KUBE_OBJECT', message: 'a Kubernetes object could not be used and was skipped' },
  KUBE_REJECTED: { code: 'NM_E_KUBE_REJECTED', message: 'an Istio resource from the API is invalid; its previous valid version keeps applying' },
  CGROUP_NOT_FOUND: { code: 'NM_E_CGROUP_NOT_FOUND', message: "a meshed pod's cgroup was not found under --cgroup yet" },

  // Traffic (answered to the client, counted with the flag).
  NO_ORIGINAL_DST: { code: 'NM_E_NO_ORIGINAL_DST', message: 'no original destination recorded for a captured connection', flag: 'NR' },
  NO_ROUTE: { code: 'NM_E_NO_ROUTE', message: 'no service matches the destination', status: 404, flag: 'NR' },
  NO_HEALTHY_UPSTREAM: { code: 'NM_E_NO_HEALTHY_UPSTREAM', message: 'no healthy upstream', status: 503, flag: 'UH' },
  UPSTREAM_CONNECT: { code: 'NM_E_UPSTREAM_CONNECT', message: 'upstream connect error or disconnect/reset before headers', status: 503, flag: 'UF' },
  UPSTREAM_TIMEOUT: { code: 'NM_E_UPSTREAM_TIMEOUT', message: 'upstream request timeout', status: 504, flag: 'UT' },
  UPSTREAM_RESET: { code: 'NM_E_UPSTREAM_RESET', message: 'upstream reset after headers', status: 502, flag: 'UR' },
  BAD_REQUEST: { code: 'NM_E_BAD_REQUEST', message: 'malformed HTTP request', status: 400, flag: 'DPE' },
  HEADERS_TOO_LARGE: { code: 'NM_E_HEADERS_TOO_LARGE', message: 'request headers too large', status: 431, flag: 'DPE' },
  DOWNSTREAM_CLOSED: { code: 'NM_E_DOWNSTREAM_CLOSED', message: 'downstream closed before the response', flag: 'DC' },
  DETECT_TIMEOUT: { code: 'NM_E_DETECT_TIMEOUT', message: 'protocol detection timed out; treated as opaque TCP' },
  // An established upstream connection (often a pooled keep-alive one) closed or reset before response
  // headers: Envoy's UC, with the same 503 body Envoy sends.
  UPSTREAM_TERMINATED: { code: 'NM_E_UPSTREAM_TERMINATED', message: 'upstream connect error or disconnect/reset before headers', status: 503, flag: 'UC' },
  UPSTREAM_PROTOCOL: { code: 'NM_E_UPSTREAM_PROTOCOL', message: 'upstream sent a malformed response', status: 502, flag: 'UPE' },
  REQUEST_HEADERS_TIMEOUT: { code: 'NM_E_REQUEST_HEADERS_TIMEOUT', message: 'the client did not send a complete request in time', status: 408 },
  // Traffic management (VirtualService, DestinationRule, LocalRateLimit); bodies as Envoy words them.
  ROUTE_NOT_FOUND: { code: 'NM_E_ROUTE_NOT_FOUND', message: 'no VirtualService route matches the request', status: 404, flag: 'NR' },
  UPSTREAM_OVERFLOW: { code: 'NM_E_UPSTREAM_OVERFLOW', message: 'upstream connect error or disconnect/reset before headers. reset reason: overflow', status: 503, flag: 'UO' },
  RATE_LIMITED: { code: 'NM_E_RATE_LIMITED', message: 'local_rate_limited', status: 429, flag: 'RL' },
  FAULT_ABORT: { code: 'NM_E_FAULT_ABORT', message: 'fault filter abort', flag: 'FI' },
  // AuthorizationPolicy at the destination: Envoy's RBAC answer (gRPC: PERMISSION_DENIED with this message).
  RBAC_DENIED: { code: 'NM_E_RBAC_DENIED', message: 'RBAC: access denied', status: 403, flag: 'DENY' },
  H2_PROTOCOL: { code: 'NM_E_H2_PROTOCOL', message: 'HTTP/2 protocol violation or abuse; the connection was closed', flag: 'DPE' },
  // Closed unproxied by the outbound listener (fd reserve, connection limit, drain); counted by reason.
  DOWNSTREAM_REFUSED: { code: 'NM_E_DOWNSTREAM_REFUSED', message: 'captured connections were closed without proxying' },

  // Identity and CA (workload certificates; a failure never stops traffic already flowing).
  BAD_SPIFFE_ID: { code: 'NM_E_BAD_SPIFFE_ID', message: 'not a SPIFFE id of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>' },
  BAD_CSR: { code: 'NM_E_BAD_CSR', message: 'malformed or unacceptable certificate signing request' },
  BAD_CERT: { code: 'NM_E_BAD_CERT', message: 'malformed or unacceptable certificate' },
  CA_STORE: { code: 'NM_E_CA_STORE', message: 'the CA directory could not be read or written' },
  NODE_TOKENS: { code: 'NM_E_NODE_TOKENS', message: 'the node-tokens file is missing or invalid' },
  CERT_FETCH: { code: 'NM_E_CERT_FETCH', message: 'a workload certificate could not be obtained from the CA' },

  // HBONE tunnel, source side (the pool opening a CONNECT stream to a peer agent).
  TUNNEL_NO_CERT: { code: 'NM_E_TUNNEL_NO_CERT', message: 'no workload certificate for the tunnel source identity', status: 503, flag: 'UF' },
  TUNNEL_TLS: { code: 'NM_E_TUNNEL_TLS', message: 'HBONE TLS failed or the peer agent is not the expected identity', status: 503, flag: 'TLS_FAILURE' },
  TUNNEL_CONNECT: { code: 'NM_E_TUNNEL_CONNECT', message: 'the HBONE tunnel to the peer agent could not be established', status: 503, flag: 'UF' },
  TUNNEL_TIMEOUT: { code: 'NM_E_TUNNEL_TIMEOUT', message: 'the HBONE tunnel was not established in time', status: 503, flag: 'UF' },
  TUNNEL_REFUSED: { code: 'NM_E_TUNNEL_REFUSED', message: 'the peer agent refused the tunnelled connection', status: 503, flag: 'CONNECT' },

  // TLS origination (DestinationRule tls SIMPLE/MUTUAL): the handshake failed, the server certificate was
  // refused (chain or subjectAltNames), or a certificate file could not be read; the client gets 503 UF.
  UPSTREAM_TLS: { code: 'NM_E_UPSTREAM_TLS', message: 'TLS origination to the upstream failed', status: 503, flag: 'UF' },

  // RequestAuthentication: a request's JWT failed verification (401, Envoy's jwt_authn wording in the
  // body); a JWKS could not be fetched from its jwksUri (the last good keys, if any, stay in use; the log
  // line says which).
  JWT_INVALID: { code: 'NM_E_JWT_INVALID', message: 'Jwt verification fails', status: 401 },
  JWKS_FETCH: { code: 'NM_E_JWKS_FETCH', message: 'fetching a JWKS from its jwksUri failed' },

  // ServiceEntry DNS resolution and the node's DNS proxy.
  DNS_LOOKUP: { code: 'NM_E_DNS_LOOKUP', message: 'a DNS lookup of a ServiceEntry endpoint name failed; its last good answer stays' },
  DNS_MALFORMED: { code: 'NM_E_DNS_MALFORMED', message: 'a DNS message that could not be parsed was dropped' },

  // DestinationRule tls.credentialName: the named Secret is missing, cannot be read or holds no usable
  // certificates; connections that originate TLS with it fail with 503 UF until it is fixed.
  TLS_CREDENTIAL: { code: 'NM_E_TLS_CREDENTIAL', message: 'a Secret named by a DestinationRule credentialName cannot be used' },

  // `nodemesh stat` and `nodemesh config`: the agent's admin API did not answer.
  ADMIN_UNREACHABLE: { code: 'NM_E_ADMIN_UNREACHABLE', message: "the agent's admin API did not answer" },

  // Tracing: spans are best effort; requests never wait for the collector.
  TRACE_EXPORT: { code: 'NM_E_TRACE_EXPORT', message: 'exporting spans to the OTLP collector failed; the batch was dropped and the next export backs off' },
  TRACE_SETTING: { code: 'NM_E_TRACE_SETTING', message: 'an OTEL_* tracing setting could not be used; its default applies' },

  // A JWKS fetched from a jwksUri holds a key that cannot verify tokens (named, with why); the others serve.
  JWKS_KEY_UNUSABLE: { code: 'NM_E_JWKS_KEY_UNUSABLE', message: 'a key of a fetched JWKS cannot verify tokens and is ignored' },
  // A client that is not a mesh workload (no identity on this node) asked for a mesh endpoint: those are
  // reached only through the mTLS tunnel, which is opened with the client's identity. Refused: 503 UF.
  NOT_MESH_WORKLOAD: { code: 'NM_E_NOT_MESH_WORKLOAD', message: 'no identity to open a tunnel to a mesh endpoint', status: 503, flag: 'UF' },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorName = keyof typeof CATALOG;

/** An error with a stable catalog code and optional structured details (file, document, field...). */
export class MeshError extends Error {
  readonly code: string;
  readonly status?: number;
  readonly flag?: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(name: ErrorName, detail?: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    const entry: CatalogEntry = CATALOG[name];
    super(detail ? `${entry.message}: ${detail}` : entry.message, options);
    this.name = 'MeshError';
    this.code = entry.code;
    if (entry.status !== undefined) this.status = entry.status;
    if (entry.flag !== undefined) this.flag = entry.flag;
    this.details = details;
  }
}

export function isMeshError(e: unknown, name?: ErrorName): e is MeshError {
  return e instanceof MeshError && (name === undefined || e.code === CATALOG[name].code);
}
