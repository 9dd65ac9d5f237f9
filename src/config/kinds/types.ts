// What a document validates to before the cross-document pass joins everything into a MeshConfig.
import type { AuthzPolicy, RequestAuthn, TelemetryPolicy, Dataplane, Endpoint, MeshLocation, MeshNode, PeerAuthn, Resolution, ServicePort, Workload } from '../model';
import type { Reserved } from '../reserved';
import type { Destination, DestinationRule, HealthCheck, HttpRoute, LocalRateLimit, TcpRoute, TlsRoute } from '../traffic';

/** What a kind's reader is given besides the document. */
export interface ReadOptions {
  /** The agent's own addresses and ports, which services must not name. */
  readonly reserved: Reserved;
  /** DestinationRule tls.credentialName may name a Secret (Kubernetes discovery reads it). */
  readonly secrets?: boolean;
}

/** Where a document came from, to report cross-document problems against it. */
export interface Origin {
  readonly file: string;
  readonly document: number;
  readonly kind: string;
  /** "namespace/name". */
  readonly name: string;
  /** Path of the object inside the document: '' or `items[N]` for a kind: List. */
  readonly root: string;
}

/** A field value together with the path it was read from. */
export interface At<T> {
  readonly value: T;
  readonly path: string;
}

export interface ParsedService {
  readonly kind: 'ServiceEntry';
  readonly origin: Origin;
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly hosts: readonly At<string>[];
  readonly addresses: readonly At<string>[];
  readonly ports: readonly ServicePort[];
  readonly dataplane: Dataplane;
  /** Inline spec.endpoints; undefined when the service selects WorkloadEntries instead (or has none). */
  readonly endpoints: readonly Endpoint[] | undefined;
  readonly selector: At<Readonly<Record<string, string>>> | undefined;
  /**
   * spec.resolution, left out for STATIC (a missing one is read as Istio's default NONE, or STATIC for an
   * entry with endpoints or a selector), and spec.location (MESH_INTERNAL when absent).
   */
  readonly resolution?: Resolution;
  readonly location?: MeshLocation;
  /** DNS resolution: endpoints given as host names (their `address` is the name), resolved by the agent. */
  readonly dnsEndpoints?: readonly Endpoint[];
  /** spec.subjectAltNames: identities the endpoints must present over mesh mTLS. */
  readonly subjectAltNames?: readonly string[];
}

export interface ParsedWorkload {
  readonly kind: 'WorkloadEntry';
  readonly origin: Origin;
  readonly workload: Workload;
  readonly ports: Readonly<Record<string, number>>;
  readonly weight: number;
  /** spec.locality ("region/zone/subzone"), when given. */
  readonly locality?: string;
}

export interface ParsedNode {
  readonly kind: 'Node';
  /** origin.name is the bare node name: Nodes are cluster-scoped. */
  readonly origin: Origin;
  readonly node: MeshNode;
  readonly addresses: readonly At<string>[];
}

export interface ParsedPeerAuthn {
  readonly kind: 'PeerAuthentication';
  readonly origin: Origin;
  readonly policy: PeerAuthn;
}

export interface ParsedAuthz {
  readonly kind: 'AuthorizationPolicy';
  readonly origin: Origin;
  readonly policy: AuthzPolicy;
}

export interface ParsedRequestAuthn {
  readonly kind: 'RequestAuthentication';
  readonly origin: Origin;
  readonly policy: RequestAuthn;
}

/**
 * A VirtualService before its hosts are resolved: destinations have `service: ''`, and DESTINATIONS says
 * where each one was written (for the cross-document pass to resolve and report against).
 */
export interface ParsedVirtualService {
  readonly kind: 'VirtualService';
  readonly origin: Origin;
  readonly name: string;
  readonly namespace: string;
  readonly hosts: readonly At<string>[];
  /** One entry per spec.http item, in order (so index N is spec.http[N]). */
  readonly http: readonly HttpRoute[];
  readonly tcp: readonly TcpRoute[];
  readonly tls?: readonly TlsRoute[];
  readonly destinations: ReadonlyMap<Destination, string>;
  /** False when the document had problems: its routes may be partly read, so route checks skip it. */
  readonly complete: boolean;
  /** Present when spec.gateways names gateways other than "mesh": whether the mesh applies too, and those. */
  readonly gateways?: { readonly mesh: boolean; readonly others: readonly string[] };
  /** Routes and match entries that can never be chosen (warnings; FIELD is a full path). */
  readonly unreachable?: readonly { readonly field: string; readonly message: string }[];
}

export interface ParsedDestinationRule {
  readonly kind: 'DestinationRule';
  readonly origin: Origin;
  /** `service` is filled in by the cross-document pass. */
  readonly rule: DestinationRule;
  /** Port numbers of portLevelSettings (top level and subsets), with their paths. */
  readonly ports: readonly At<number>[];
}

export interface ParsedRateLimit {
  readonly kind: 'LocalRateLimit';
  readonly origin: Origin;
  /** `service` is filled in by the cross-document pass, from HOST. */
  readonly limit: LocalRateLimit;
  readonly host: string;
}

export interface ParsedHealthCheck {
  readonly kind: 'HealthCheck';
  readonly origin: Origin;
  /** `service` (and the subset's labels) are filled in by the cross-document pass, from HOST. */
  readonly check: HealthCheck;
  readonly host: string;
}

export type ParsedTraffic = ParsedVirtualService | ParsedDestinationRule | ParsedRateLimit | ParsedHealthCheck;

export interface ParsedTelemetry {
  readonly kind: 'Telemetry';
  readonly origin: Origin;
  readonly policy: TelemetryPolicy;
}

export type Parsed = ParsedService | ParsedWorkload | ParsedNode | ParsedPeerAuthn | ParsedAuthz | ParsedRequestAuthn | ParsedTraffic | ParsedTelemetry;
