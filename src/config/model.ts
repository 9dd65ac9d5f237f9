// The validated, frozen view of the mesh that every other module reads. It is built from Istio
// documents by config/ and never mutated: a reload builds a new one and swaps it in whole.

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
}

export interface Workload {
  readonly name: string;
  readonly namespace: string;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string | undefined;
  readonly node: string | undefined;
}

export interface MeshConfig {
  readonly services: readonly Service[];
  readonly workloads: readonly Workload[];
  /** Files the config was read from and a content hash (for logs and the reload metric). */
  readonly source: { readonly files: readonly string[]; readonly hash: string };
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
