// Small hand-built configs for the router tests: services, traffic documents, requests and a scripted
// random source.
import type { MeshConfig, Service, ServicePort } from '../../../src/config/model';
import type { DestinationRule, HttpRoute, LocalRateLimit, TrafficConfig, VirtualService, WeightedDestination } from '../../../src/config/traffic';
import type { RequestView } from '../../../src/route/types';

export function port(number: number, name = `http-${number}`): ServicePort {
  return { number, name, protocol: 'HTTP', targetPort: number };
}

/** Service NAME in namespace default with PORTS (numbers), host `NAME.default.svc.cluster.local`. */
export function svc(name: string, ports: readonly number[] = [80], namespace = 'default'): Service {
  return {
    key: `${namespace}/${name}`,
    id: name.length,
    name,
    namespace,
    hosts: [`${name}.${namespace}.svc.cluster.local`],
    addresses: [],
    ports: ports.map((p) => port(p)),
    dataplane: 'proxy',
    endpoints: [],
    labels: {},
  };
}

export function mesh(services: readonly Service[], traffic?: Partial<TrafficConfig>): MeshConfig {
  return {
    services,
    workloads: [],
    nodes: [],
    peerAuthentications: [],
    authorizationPolicies: [],
    traffic:
      traffic === undefined
        ? undefined
        : { virtualServices: traffic.virtualServices ?? [], destinationRules: traffic.destinationRules ?? [], rateLimits: traffic.rateLimits ?? [] },
    source: { files: [], hash: 'test' },
  };
}

export function vs(name: string, services: readonly string[], http: readonly HttpRoute[], tcp: VirtualService['tcp'] = []): VirtualService {
  return { name, namespace: 'default', services, http, tcp };
}

/** An http route: NAME, matches, and the rest from OVER (mirrors default to none). */
export function httpRoute(name: string, match: HttpRoute['match'], over: Partial<HttpRoute> = {}): HttpRoute {
  return { name, match, mirrors: [], ...over };
}

/** Weighted destination to service KEY (`default/NAME`). */
export function to(service: string, weight = 100, over: Partial<WeightedDestination['destination']> = {}, headers?: WeightedDestination['headers']): WeightedDestination {
  const name = service.split('/')[1];
  return { destination: { host: name, service, ...over }, weight, ...(headers === undefined ? {} : { headers }) };
}

export function dr(service: string, over: Partial<DestinationRule> = {}): DestinationRule {
  return { name: `dr-${service.split('/')[1]}`, namespace: 'default', host: service.split('/')[1], service, portLevel: [], subsets: [], ...over };
}

export function limit(name: string, over: Partial<LocalRateLimit> = {}): LocalRateLimit {
  return { name, namespace: 'default', service: 'default/web', maxTokens: 2, tokensPerFill: 1, fillIntervalMs: 1000, ...over };
}

export interface ReqOver {
  method?: string;
  path?: string;
  authority?: string;
  scheme?: string;
  headers?: Record<string, string>;
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
  sourcePrincipal?: string;
  sourceIp?: string;
}

export function req(over: ReqOver = {}): RequestView {
  const headers = over.headers ?? {};
  return {
    method: over.method ?? 'GET',
    path: over.path ?? '/',
    authority: over.authority ?? 'web',
    scheme: over.scheme ?? 'http',
    header: (name) => headers[name],
    sourceIp: over.sourceIp ?? '10.0.0.9',
    sourceLabels: over.sourceLabels ?? {},
    sourceNamespace: over.sourceNamespace ?? 'default',
    sourcePrincipal: over.sourcePrincipal ?? 'cluster.local/ns/default/sa/sleep',
  };
}

/** A random() that returns VALUES in turn and fails the test when asked for more. */
export function scripted(...values: number[]): () => number {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error(`random() called more than ${values.length} times`);
    return values[i++];
  };
}

/** A random() that must not be called. */
export const noRandom = (): number => {
  throw new Error('random() should not be called');
};
