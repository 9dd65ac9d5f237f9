// The Kubernetes API stand-in's resource catalog, URL grammar and Status bodies (pure; see kubeapi.ts).
// Only what the agent, the CA and their tests use is served; everything else answers 404 like an API
// server without that resource.

export interface ResourceDef {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  /** Plural, lower case, as it appears in URLs. */
  readonly resource: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Fields a fieldSelector may name besides metadata.name and metadata.namespace (as the real server allows). */
  readonly fields: readonly string[];
  /** DELETE answers the deleted object (as pods and services do) rather than a Status. */
  readonly deleteReturnsObject?: boolean;
  /** Served only while the stand-in has Istio's CRDs installed. */
  readonly istio?: boolean;
}

export const apiVersionOf = (d: ResourceDef): string => (d.group ? `${d.group}/${d.version}` : d.version);
export const resourceKey = (d: ResourceDef): string => `${d.group}/${d.version}/${d.resource}`;

const core = (resource: string, kind: string, namespaced: boolean, fields: string[] = [], deleteReturnsObject = false): ResourceDef =>
  ({ group: '', version: 'v1', resource, kind, namespaced, fields, deleteReturnsObject });
const named = (group: string, version: string, resource: string, kind: string, istio = false): ResourceDef =>
  ({ group, version, resource, kind, namespaced: true, fields: [], istio });

const EVENT_FIELDS = ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'reason', 'type'];

export const RESOURCES: readonly ResourceDef[] = [
  core('pods', 'Pod', true, ['spec.nodeName', 'spec.serviceAccountName', 'status.phase', 'status.podIP'], true),
  core('services', 'Service', true, [], true),
  core('namespaces', 'Namespace', false, ['status.phase']),
  core('nodes', 'Node', false, ['spec.unschedulable']),
  core('events', 'Event', true, EVENT_FIELDS),
  core('secrets', 'Secret', true, ['type']),
  core('configmaps', 'ConfigMap', true),
  named('apps', 'v1', 'replicasets', 'ReplicaSet'),
  named('apps', 'v1', 'deployments', 'Deployment'),
  named('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice'),
  { ...named('events.k8s.io', 'v1', 'events', 'Event'), fields: ['regarding.kind', 'regarding.namespace', 'regarding.name', 'regarding.uid', 'reason', 'type'] },
  named('networking.istio.io', 'v1', 'virtualservices', 'VirtualService', true),
  named('networking.istio.io', 'v1', 'destinationrules', 'DestinationRule', true),
  named('networking.istio.io', 'v1', 'serviceentries', 'ServiceEntry', true),
  named('networking.istio.io', 'v1', 'workloadentries', 'WorkloadEntry', true),
  named('security.istio.io', 'v1', 'peerauthentications', 'PeerAuthentication', true),
  named('security.istio.io', 'v1', 'authorizationpolicies', 'AuthorizationPolicy', true),
  named('security.istio.io', 'v1', 'requestauthentications', 'RequestAuthentication', true),
  named('telemetry.istio.io', 'v1', 'telemetries', 'Telemetry', true),
];

const byKey = new Map(RESOURCES.map((d) => [resourceKey(d), d]));
const byKind = new Map(RESOURCES.map((d) => [`${apiVersionOf(d)}/${d.kind}`, d]));

export function defByKind(apiVersion: string, kind: string): ResourceDef | undefined {
  return byKind.get(`${apiVersion}/${kind}`);
}

/** What a request path names. */
export type ApiPath =
  | { readonly type: 'resource'; readonly def: ResourceDef; readonly namespace?: string; readonly name?: string }
  | { readonly type: 'tokenreview' }
  | { readonly type: 'discovery'; readonly body: () => unknown }
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'unknown' };

/**
 * Parses /api/v1/..., /apis/G/V/..., with the namespaced form .../namespaces/NS/R[/NAME]. Subresources
 * (status, log, ...) are not served. `istio` says whether Istio's groups exist.
 */
export function parsePath(pathname: string, istio: boolean): ApiPath {
  const parts = pathname.split('/').filter((p) => p !== '').map(safeDecode);
  if (parts.some((p) => p === undefined)) return { type: 'unknown' };
  const seg = parts as string[];
  if (seg.length === 1 && ['healthz', 'readyz', 'livez'].includes(seg[0]!)) return { type: 'text', text: 'ok' };
  if (seg.length === 1 && seg[0] === 'version') return { type: 'discovery', body: () => VERSION };
  let group: string;
  let version: string;
  let rest: string[];
  if (seg[0] === 'api') {
    if (seg.length === 1) return { type: 'discovery', body: () => ({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] }) };
    if (seg[1] !== 'v1') return { type: 'unknown' };
    [group, version, rest] = ['', 'v1', seg.slice(2)];
  } else if (seg[0] === 'apis') {
    if (seg.length === 1) return { type: 'discovery', body: () => groupList(istio) };
    if (seg.length < 3) return { type: 'unknown' };
    [group, version, rest] = [seg[1]!, seg[2]!, seg.slice(3)];
  } else {
    return { type: 'unknown' };
  }
  if (group === 'authentication.k8s.io' && version === 'v1' && rest.length === 1 && rest[0] === 'tokenreviews') return { type: 'tokenreview' };
  const served = RESOURCES.filter((d) => d.group === group && d.version === version && (istio || !d.istio));
  if (served.length === 0) return { type: 'unknown' };
  if (rest.length === 0) return { type: 'discovery', body: () => resourceList(group, version, served) };
  const find = (r: string): ResourceDef | undefined => {
    const d = byKey.get(`${group}/${version}/${r}`);
    return d && (istio || !d.istio) ? d : undefined;
  };
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const def = find(rest[2]!);
    if (!def || !def.namespaced || rest.length > 4) return { type: 'unknown' };
    return { type: 'resource', def, namespace: rest[1]!, name: rest[3] };
  }
  const def = find(rest[0]!);
  if (!def || rest.length > 2 || (def.namespaced && rest.length > 1)) return { type: 'unknown' };
  return { type: 'resource', def, name: rest[1] };
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

const VERSION = { major: '1', minor: '33', gitVersion: 'v1.33.0', platform: 'linux/amd64' };

function groupList(istio: boolean): unknown {
  const groups = [...new Set(RESOURCES.filter((d) => d.group && (istio || !d.istio)).map((d) => d.group))];
  groups.push('authentication.k8s.io');
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((name) => {
      const version = name === 'authentication.k8s.io' ? 'v1' : RESOURCES.find((d) => d.group === name)!.version;
      const gv = { groupVersion: `${name}/${version}`, version };
      return { name, versions: [gv], preferredVersion: gv };
    }),
  };
}

function resourceList(group: string, version: string, defs: readonly ResourceDef[]): unknown {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources: defs.map((d) => ({
      name: d.resource,
      singularName: d.kind.toLowerCase(),
      namespaced: d.namespaced,
      kind: d.kind,
      verbs: ['create', 'delete', 'get', 'list', 'update', 'watch'],
    })),
  };
}

export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: Record<string, unknown>;
  code: number;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed',
  409: 'Conflict', 410: 'Expired', 413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType', 500: 'InternalError',
};

/** A failure Status as the API server sends it (in a response body or a watch ERROR event). */
export function failure(code: number, message: string, reason = REASONS[code] ?? 'Unknown', details?: Record<string, unknown>): KubeStatus {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** "pods \"web\" not found", with the details the real server adds. */
export function notFound(def: ResourceDef, name: string): KubeStatus {
  return failure(404, `${qualified(def)} "${name}" not found`, 'NotFound', { name, group: def.group, kind: def.resource });
}

export const qualified = (def: ResourceDef): string => (def.group ? `${def.resource}.${def.group}` : def.resource);
