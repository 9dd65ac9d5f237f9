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
