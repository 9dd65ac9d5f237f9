// Config files for everything the bench starts. Pure text builders: every server listens on 127.0.0.1 on
// ports chosen by the caller and keeps its files (pid, temp, logs) inside the run's temp directory.
import * as path from 'node:path';

/** The fixed body the backend returns: small, so the figures measure per-request proxy cost. */
export const BACKEND_BODY = 'nodemesh bench backend\n';

/** The service VIPs (loopback, so a missed capture fails locally instead of leaving the machine). */
export const PROXY_VIP = '127.200.0.1';
export const KERNEL_VIP = '127.200.0.2';
export const VIP_PORT = 80;

/**
 * nginx as one single-process server. `master_process off` keeps the whole server in the one pid the
 * bench started, so stopping it by pid cannot orphan a worker; that process serves exactly as a single
 * worker would (`worker_processes 1` is stated for the reader).
 */
function nginxMain(dir: string, name: string, http: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${path.join(dir, `${name}.pid`)};
error_log ${path.join(dir, `${name}-error.log`)} warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  client_body_temp_path ${path.join(dir, `${name}-body`)};
  proxy_temp_path ${path.join(dir, `${name}-proxy`)};
  # wrk keeps its connections for the whole run; nginx would otherwise close each after 1000 requests.
  keepalive_requests 10000000;
  keepalive_timeout 120s;
${http}
}
`;
}

export function backendNginxConf(dir: string, port: number): string {
  return nginxMain(
    dir,
    'backend',
    `  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { return 200 ${JSON.stringify(BACKEND_BODY)}; }
  }`,
  );
}

/** nginx as a reverse proxy with a keepalive upstream pool (otherwise it would reconnect per request). */
export function proxyNginxConf(dir: string, port: number, backendPort: number): string {
  return nginxMain(
    dir,
    'proxy',
    `  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }`,
  );
}

/** HAProxy, one thread, HTTP mode with server-side connection reuse (its analogue of the keepalive pool). */
export function haproxyConf(port: number, backendPort: number): string {
  return `global
  nbthread 1
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend bench
  bind 127.0.0.1:${port}
  default_backend backend

backend backend
  http-reuse always
  server b1 127.0.0.1:${backendPort}
`;
}

/** The mesh: one proxy-mode HTTP service and one kernel-mode TCP service, both onto the same backend. */
export function meshYaml(backendPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: bench-proxy, namespace: bench }
spec:
  hosts: [bench-proxy.bench.svc.cluster.local]
  addresses: [${PROXY_VIP}]
  ports: [{ number: ${VIP_PORT}, name: http, protocol: HTTP, targetPort: ${backendPort} }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: bench-kernel
  namespace: bench
  labels: { nodemesh.io/dataplane: kernel }
spec:
  hosts: [bench-kernel.bench.svc.cluster.local]
  addresses: [${KERNEL_VIP}]
  ports: [{ number: ${VIP_PORT}, name: tcp, protocol: TCP, targetPort: ${backendPort} }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`;
}

// ---- HTTP/2 and routing benches -------------------------------------------------------------------------

/** VIPs of the HTTP/2 and routing benches: distinct from the ones above, so no two configs share one. */
export const H2_VIP = '127.200.0.3';
export const PLAIN_VIP = '127.200.0.4';
export const ROUTED_VIP = '127.200.0.5';
export const EDITS_VIP = '127.200.0.6';

/** The header edits of the routing bench's `edits` service: one set on the request, one added to the response. */
export const EDIT_REQUEST_HEADER = { name: 'x-bench-request', value: 'edits' } as const;
export const EDIT_RESPONSE_HEADER = { name: 'x-bench-response', value: 'edits' } as const;

/** The host a bench service is known by (VirtualService hosts and destinations use it). */
export const benchHost = (name: string): string => `${name}.bench.svc.cluster.local`;

/**
 * The backend speaking h2c with prior knowledge only (`listen … http2` without ssl). It lets one
 * connection carry up to 1024 streams: a proxy that multiplexes onto few upstream connections is not held
 * back by nginx's default of 128.
 */
export function h2BackendNginxConf(dir: string, port: number): string {
  return nginxMain(
    dir,
    'h2backend',
    `  http2_max_concurrent_streams 1024;
  server {
    listen 127.0.0.1:${port} http2 backlog=4096;
    location / { return 200 ${JSON.stringify(BACKEND_BODY)}; }
  }`,
  );
}

/**
 * nginx as an HTTP/2 reverse proxy. grpc_pass is nginx's only HTTP/2 upstream; it forwards any request,
 * gRPC or not, but carries one request per upstream connection, so the keepalive pool is sized to hold
 * every request in flight (`pool`) rather than reconnecting.
 */
export function h2ProxyNginxConf(dir: string, port: number, backendPort: number, pool: number): string {
  return nginxMain(
    dir,
    'h2proxy',
    `  upstream h2backend {
    server 127.0.0.1:${backendPort};
    keepalive ${pool};
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${port} http2 backlog=4096;
    location / { grpc_pass grpc://h2backend; }
  }`,
  );
}

export interface BenchService {
  readonly name: string;
  readonly vip: string;
  readonly protocol: 'HTTP' | 'HTTP2' | 'TCP';
  readonly targetPort: number;
}

/** One proxy-mode ServiceEntry: VIP:80 onto 127.0.0.1:targetPort. */
export function serviceEntryYaml(s: BenchService): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${s.name}, namespace: bench }
spec:
  hosts: [${benchHost(s.name)}]
  addresses: [${s.vip}]
  ports: [{ number: ${VIP_PORT}, name: ${s.protocol.toLowerCase()}, protocol: ${s.protocol}, targetPort: ${s.targetPort} }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`;
}

/** The HTTP/2 bench's mesh: one service whose port is declared HTTP2, onto the h2c backend. */
export function h2MeshYaml(backendPort: number): string {
  return serviceEntryYaml({ name: 'bench-h2', vip: H2_VIP, protocol: 'HTTP2', targetPort: backendPort });
}

/**
 * The match of route `i` (0-based) of the routed service's VirtualService: routes before the last match
 * on what the bench's `GET /` request does not have (a path prefix, a header, a method), cycling through
 * the three kinds; the last matches every path. So each request is tested against every route.
 */
export function routeMatch(i: number, routes: number): string {
  if (i === routes - 1) return '{ uri: { prefix: / } }';
  switch (i % 3) {
    case 0:
      return `{ uri: { prefix: /api/v${i}/ } }`;
    case 1:
      return `{ headers: { x-tenant: { exact: t${i} } } }`;
    default:
      return `{ method: { exact: POST }, uri: { prefix: /v${i}/ } }`;
  }
}

/** A VirtualService on `host` with `routes` HTTP routes, all plain routes back to `host`. */
export function routedVirtualServiceYaml(host: string, routes: number): string {
  const http = Array.from({ length: routes }, (_, i) => `  - name: r${i}
    match: [${routeMatch(i, routes)}]
    route: [{ destination: { host: ${host} } }]
`).join('');
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: bench-routed, namespace: bench }
spec:
  hosts: [${host}]
  http:
${http}`;
}

/**
 * A VirtualService on `host` with one route that uses the common per-request policies: retries (which a
 * 200 never triggers, but which make the agent keep what a retry would need) and header edits both ways.
 */
export function editsVirtualServiceYaml(host: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: bench-edits, namespace: bench }
spec:
  hosts: [${host}]
  http:
  - name: edits
    retries: { attempts: 2, perTryTimeout: 2s, retryOn: "5xx,connect-failure" }
    headers:
      request: { set: { ${EDIT_REQUEST_HEADER.name}: ${EDIT_REQUEST_HEADER.value} } }
      response: { add: { ${EDIT_RESPONSE_HEADER.name}: ${EDIT_RESPONSE_HEADER.value} } }
    route: [{ destination: { host: ${host} } }]
`;
}

/**
 * The routing bench's mesh, three services onto the same backend: `plain` (no VirtualService), `routed`
 * (`routes` routes) and `edits` (one route with retries and header edits).
 */
export function routesMeshYaml(backendPort: number, routes = 10): string {
  return [
    serviceEntryYaml({ name: 'bench-plain', vip: PLAIN_VIP, protocol: 'HTTP', targetPort: backendPort }),
    serviceEntryYaml({ name: 'bench-routed', vip: ROUTED_VIP, protocol: 'HTTP', targetPort: backendPort }),
    routedVirtualServiceYaml(benchHost('bench-routed'), routes),
    serviceEntryYaml({ name: 'bench-edits', vip: EDITS_VIP, protocol: 'HTTP', targetPort: backendPort }),
    editsVirtualServiceYaml(benchHost('bench-edits')),
  ].join('---\n');
}
