// Kinds a config may hold that nodemesh does not take: Istio kinds for sidecars and gateways, the
// Kubernetes Gateway API, Kubernetes objects. Each is refused with what to do instead, since a config is
// never applied half-understood. Pure.

const AMBIENT_LABEL = 'istio.io/dataplane-mode=ambient';
const GATEWAY_API = 'Kubernetes Gateway API objects are not read: gateways keep running as they are; route mesh traffic with a VirtualService';
const DISCOVERED = (what: string, instead: string): string =>
  `Kubernetes ${what} are discovered from the API server: leave it out (with --no-kubernetes, write a ${instead})`;

/** By API group ('' is Kubernetes' core group, `apiVersion: v1`), then kind. */
const FOREIGN: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'networking.istio.io': {
    Gateway: 'Gateway is not supported: ingress and egress gateways keep running as they are (the node agent handles mesh traffic only); leave it out here',
    Sidecar: `Sidecar is not needed: there are no sidecars, capture is per namespace label (${AMBIENT_LABEL}); leave it out`,
    EnvoyFilter: 'EnvoyFilter is not supported: there is no Envoy here; leave it out',
    WorkloadGroup: 'WorkloadGroup is not supported: write a WorkloadEntry per workload',
    ProxyConfig: 'ProxyConfig is not supported: there is no Envoy proxy to configure; leave it out',
  },
  'extensions.istio.io': {
    WasmPlugin: 'WasmPlugin is not supported: there is no Envoy here to run it; leave it out',
  },
  'install.istio.io': {
    IstioOperator: 'IstioOperator installs Istio; nodemesh needs no control plane: leave it out',
  },
  'gateway.networking.k8s.io': {
    Gateway: GATEWAY_API,
    GatewayClass: GATEWAY_API,
    HTTPRoute: GATEWAY_API,
    GRPCRoute: GATEWAY_API,
    TCPRoute: GATEWAY_API,
    TLSRoute: GATEWAY_API,
    ReferenceGrant: GATEWAY_API,
  },
  '': {
    Service: DISCOVERED('Services', 'ServiceEntry'),
    Endpoints: DISCOVERED('Endpoints', 'ServiceEntry with endpoints'),
    Pod: DISCOVERED('Pods', 'WorkloadEntry'),
    Namespace: `Kubernetes Namespaces are read from the API server: leave it out (capture is per namespace label ${AMBIENT_LABEL})`,
    ConfigMap: 'the agent reads the ConfigMap\'s data, not the ConfigMap object: give --config the directory it is mounted at, or a file with the documents of its data',
  },
  'discovery.k8s.io': {
    EndpointSlice: DISCOVERED('EndpointSlices', 'ServiceEntry with endpoints'),
  },
};

/** What to do instead of GROUP/KIND, when it is a known kind nodemesh does not take. */
export function foreignKind(group: string, kind: string): string | undefined {
  const byKind = Object.hasOwn(FOREIGN, group) ? FOREIGN[group] : undefined;
  return byKind !== undefined && Object.hasOwn(byKind, kind) ? byKind[kind] : undefined;
}

/** Every kind of FOREIGN in GROUP (for "did you mean" on a misspelled kind). */
export function foreignKinds(group: string): readonly string[] {
  return Object.hasOwn(FOREIGN, group) ? Object.keys(FOREIGN[group] ?? {}) : [];
}

/** Kubernetes' own API groups: core (`v1`), `apps`, `batch`, and the `*.k8s.io` ones. */
export function isKubernetesGroup(group: string): boolean {
  return group === '' || group === 'apps' || group === 'batch' || group === 'policy' || group === 'autoscaling' || group.endsWith('.k8s.io');
}
