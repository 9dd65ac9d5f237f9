// The validated, frozen view of the mesh that every other module reads. It is built from Istio
// documents by config/ and never mutated: a reload builds a new one and swaps it in whole.
import type { TrafficConfig } from './traffic';

/** Istio port protocols we act on; TLS/HTTPS/MONGO etc. are proxied as opaque TCP. Unset = sniff. */
export type PortProtocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'TCP' | 'TLS' | 'HTTPS';

/** proxy: captured to the agent (L7 features); kernel: balanced in connect4, no userspace hop. */
export type Dataplane = 'proxy' | 'kernel';

export interface ServicePort {
  readonly number: number;
  readonly name: string;
  /** Declared protocol; undefined means "detect by sniffing" (also when only the name prefix is unknown). */
  readonly protocol: PortProtocol | undefined;
  /** Port on the endpoints; defaults to `number`. Endpoint-specific `ports[name]` wins over it. */
  readonly targetPort: number;
}

export interface Endpoint {
  readonly address: string;
  /** Port overrides by service port name (Istio WorkloadEntry/endpoints `ports`). */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly namespace: string;
  readonly serviceAccount: string | undefined;
  /** WorkloadEntry name when the endpoint came from one; used for destination_workload. */
  readonly workload: string | undefined;
  /** Node the workload runs on (label kubernetes.io/hostname), when known. */
  readonly node: string | undefined;
  readonly weight: number;
  /** "region/zone/subzone" (WorkloadEntry locality, or the pod's node labels); absent = unknown. */
  readonly locality?: string;
}

/** The port an endpoint serves a service port on: its own `ports[name]`, else the port's targetPort. */
export function endpointPort(ep: Endpoint, port: ServicePort): number {
  return ep.ports[port.name] ?? port.targetPort;
}

export interface Service {
  /** "namespace/name": unique key. */
  readonly key: string;
  /** Stable 32-bit id (FNV-1a of key), shared with the kernel maps and stable across restarts. */
  readonly id: number;
  readonly name: string;
  readonly namespace: string;
  readonly hosts: readonly string[];
  /** IPv4 VIPs (ServiceEntry addresses) that are captured. */
  readonly addresses: readonly string[];
  readonly ports: readonly ServicePort[];
  readonly dataplane: Dataplane;
  readonly endpoints: readonly Endpoint[];
  readonly labels: Readonly<Record<string, string>>;
  /** ServiceEntry spec.resolution; absent = STATIC (endpoints are addresses). */
  readonly resolution?: Resolution;
  /** ServiceEntry spec.location; absent = MESH_INTERNAL. MESH_EXTERNAL endpoints are dialled directly. */
  readonly location?: MeshLocation;
  /**
   * DNS and DNS_ROUND_ROBIN: endpoints whose `address` is a host name (or, without spec.endpoints, the
   * service's hosts). The agent resolves them and puts one endpoint per address into `endpoints`.
   */
  readonly dnsEndpoints?: readonly Endpoint[];
  /**
   * ServiceEntry spec.subjectAltNames: the identities (SPIFFE ids) its endpoints must present over mesh
   * mTLS; absent = the endpoint's own workload identity.
   */
  readonly subjectAltNames?: readonly string[];
}

/** How a service's endpoints are found (Istio ServiceEntry resolution). */
export type Resolution = 'STATIC' | 'NONE' | 'DNS' | 'DNS_ROUND_ROBIN';
export type MeshLocation = 'MESH_INTERNAL' | 'MESH_EXTERNAL';

export interface Workload {
  readonly name: string;
  readonly namespace: string;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string | undefined;
  readonly node: string | undefined;
}

/**
 * Istio's root namespace: PeerAuthentication without a selector there is mesh-wide, and
 * AuthorizationPolicies there apply to every namespace. Istio makes it configurable; nodemesh does not yet.
 */
export const ROOT_NAMESPACE = 'istio-system';

/** A node agent (nodemesh.io/v1alpha1 Node): where peers tunnel to it (:15008) and where its pods reach it. */
export interface MeshNode {
  /** The node's name, as in the label kubernetes.io/hostname. */
  readonly name: string;
  /** IPv4 addresses in the order given; the first is the one to dial. */
  readonly addresses: readonly string[];
  /** The Node's labels (its locality: topology.kubernetes.io/region, zone; topology.istio.io/subzone). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Istio's PeerAuthentication modes; UNSET inherits from the enclosing scope. */
export type MtlsMode = 'UNSET' | 'PERMISSIVE' | 'STRICT' | 'DISABLE';

export interface PeerAuthn {
  readonly name: string;
  readonly namespace: string;
  /** spec.selector.matchLabels; undefined (or empty) = namespace-wide, mesh-wide in the root namespace. */
  readonly selector: Readonly<Record<string, string>> | undefined;
  /** spec.mtls.mode; UNSET when not given. */
  readonly mode: MtlsMode;
  /** spec.portLevelMtls: mode by the workload's port number (decimal keys, as written in YAML). */
  readonly portLevel: Readonly<Record<string, MtlsMode>>;
}

export type AuthzAction = 'ALLOW' | 'DENY' | 'AUDIT';

export interface AuthzPolicy {
  readonly name: string;
  readonly namespace: string;
  /** spec.selector.matchLabels; undefined = every workload of the namespace (of the mesh in the root namespace). */
  readonly selector: Readonly<Record<string, string>> | undefined;
  readonly action: AuthzAction;
  /**
   * A request matches the policy when any rule matches. No rules (absent or []) = the policy matches
   * nothing: an ALLOW policy without rules therefore denies everything its selector covers.
   */
  readonly rules: readonly AuthzRule[];
  /** metadata.annotations["istio.io/dry-run"] = "true": evaluated, logged and counted, never enforced. */
  readonly dryRun?: boolean;
}

/**
 * A rule matches when one of `from`, one of `to` and every `when` condition match. An absent (or empty)
 * list puts no constraint, so `{}` matches every request. Absent fields inside a source or operation
 * likewise put no constraint.
 */
export interface AuthzRule {
  readonly from?: readonly AuthzSource[];
  readonly to?: readonly AuthzOperation[];
  readonly when?: readonly AuthzCondition[];
}

/** Values use Istio string matching: exact, `prefix*`, `*suffix`, or `*` (any non-empty value). */
export interface AuthzSource {
  /** `<trust domain>/ns/<namespace>/sa/<service account>`, from the peer certificate. */
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  /** Namespaces of the peer identity. */
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  /** IPv4 addresses or CIDRs of the connection's source address. */
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
  /** `<iss>/<sub>` of the request's verified JWT (RequestAuthentication). */
  readonly requestPrincipals?: readonly string[];
  readonly notRequestPrincipals?: readonly string[];
  /** IPv4 addresses or CIDRs of the client as X-Forwarded-For tells it (--trusted-proxies). */
  readonly remoteIpBlocks?: readonly string[];
  readonly notRemoteIpBlocks?: readonly string[];
  /** `<namespace>/<name>` of the peer identity (a bare name is qualified with the policy's namespace). */
  readonly serviceAccounts?: readonly string[];
  readonly notServiceAccounts?: readonly string[];
  /** Trust domain of the peer identity (deprecated in Istio, still valid). */
  readonly trustDomains?: readonly string[];
  readonly notTrustDomains?: readonly string[];
}

export interface AuthzOperation {
  /** HTTP only: the Host/:authority, matched case-insensitively and as sent (port included). */
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
  /** Destination ports (Istio writes them as strings; validated and stored as numbers). */
  readonly ports?: readonly number[];
  readonly notPorts?: readonly number[];
  /** HTTP only. */
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  /** HTTP only: matched against the path without query or fragment. */
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
}

/** `when` entry: KEY is one of the attributes nodemesh evaluates (WHEN_KEYS in config/kinds/security.ts). */
export interface AuthzCondition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

export interface MeshConfig {
  readonly services: readonly Service[];
  readonly workloads: readonly Workload[];
  /** Node agents, sorted by name; empty when the config declares none. */
  readonly nodes: readonly MeshNode[];
  /** Sorted by namespace, then name (the order the deciders break ties in). */
  readonly peerAuthentications: readonly PeerAuthn[];
  readonly authorizationPolicies: readonly AuthzPolicy[];
  /** RequestAuthentications, sorted by namespace, then name; absent = none. */
  readonly requestAuthentications?: readonly RequestAuthn[];
  /** VirtualServices, DestinationRules and LocalRateLimits; absent = none (plain round robin). */
  readonly traffic?: TrafficConfig;
  /** telemetry.istio.io Telemetry (tracing and access log settings), sorted by namespace, then name; absent = none. */
  readonly telemetry?: readonly TelemetryPolicy[];
  /** Files the config was read from and a content hash (for logs and the reload metric). */
  readonly source: { readonly files: readonly string[]; readonly hash: string };
}

/** Which reporter side a Telemetry entry applies to (Istio's WorkloadMode). */
export type TelemetryMode = 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';

/** telemetry.istio.io Telemetry: the settings nodemesh applies (telemetry/policy.ts picks one per workload). */
export interface TelemetryPolicy {
  readonly name: string;
  readonly namespace: string;
  /** spec.selector.matchLabels; undefined = namespace-wide, mesh-wide in the root namespace. */
  readonly selector: Readonly<Record<string, string>> | undefined;
  readonly tracing: readonly TelemetryTracing[];
  readonly accessLogging: readonly TelemetryAccessLog[];
}

export interface TelemetryTracing {
  readonly mode: TelemetryMode;
  /** 0 to 100; absent = inherited (else the OTEL_TRACES_SAMPLER's decision). */
  readonly randomSamplingPercentage?: number;
  readonly disableSpanReporting?: boolean;
}

export interface TelemetryAccessLog {
  readonly mode: TelemetryMode;
  readonly disabled?: boolean;
}

/** security.istio.io RequestAuthentication: which JWTs a workload accepts (policy/jwt.ts verifies them). */
export interface RequestAuthn {
  readonly name: string;
  readonly namespace: string;
  /** spec.selector.matchLabels; undefined = every workload of the namespace (of the mesh in the root namespace). */
  readonly selector: Readonly<Record<string, string>> | undefined;
  /** spec.targetRef(s): keys ("namespace/name") of the services whose traffic it applies to, instead of a selector. */
  readonly targetServices?: readonly string[];
  readonly jwtRules: readonly JwtRule[];
}

export interface JwtRule {
  /** The `iss` a token must carry; '' (left out, with a jwksUri) = any issuer. */
  readonly issuer: string;
  /** Accepted `aud` values; empty = any audience. */
  readonly audiences: readonly string[];
  /** Inline JWKS (JSON text), or where to fetch it; exactly one is set. */
  readonly jwks?: string;
  readonly jwksUri?: string;
  /** Where the token is read; both empty = `Authorization: Bearer <token>` and the `access_token` parameter. */
  readonly fromHeaders: readonly { readonly name: string; readonly prefix: string }[];
  readonly fromParams: readonly string[];
  /** Cookie names the token is read from (with fromHeaders/fromParams; all empty = the defaults). */
  readonly fromCookies?: readonly string[];
  readonly forwardOriginalToken: boolean;
  readonly outputPayloadToHeader?: string;
  readonly outputClaimToHeaders: readonly { readonly header: string; readonly claim: string }[];
  /** jwksUri fetch timeout (absent = 5 s, Istio's default). */
  readonly timeoutMs?: number;
  /** Claims split on spaces when matched in `when` (besides `scope` and `permission`, always split). */
  readonly spaceDelimitedClaims?: readonly string[];
}

/** Where a config problem is: file, document index (0-based) with kind/name, and a dotted field path. */
export interface ConfigIssue {
  readonly file: string;
  readonly document: number;
  readonly kind?: string;
  readonly name?: string;
  readonly field?: string;
  readonly message: string;
}
