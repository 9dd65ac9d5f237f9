// Shared fixtures for the proxy integration tests: hand-built MeshConfig, loopback backends, an
// outbound listener whose original destination is a fixed VIP (no eBPF needed), and metric sampling.
import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
import type { Addr } from '../../src/capture/types';
import type { Endpoint, MeshConfig, PortProtocol, Service } from '../../src/config/model';
import { BalancerSet } from '../../src/balance/set';
import { createOutboundListener, type OutboundListener } from '../../src/downstream/outbound';
import type { Timeouts } from '../../src/conn/timeouts';
import { ServiceIndex } from '../../src/state/services';
import { DISABLED_ACCESS_LOG, type AccessLog } from '../../src/telemetry/accesslog';
import { Metrics } from '../../src/telemetry/metrics';

/** Service VIPs in host-namespace tests come from 127.0.0.0/8 (never leaves the machine). */
export const VIP: Addr = { address: '127.0.100.1', port: 80 };

export function endpoint(addr: Addr, extra: Partial<Endpoint> = {}): Endpoint {
  return {
    address: addr.address,
    ports: { http: addr.port },
    labels: { app: 'backend', version: 'v1' },
    namespace: 'default',
    serviceAccount: undefined,
    workload: `backend-${addr.port}`,
    node: undefined,
    weight: 1,
    ...extra,
  };
}

export function meshConfig(endpoints: Endpoint[], protocol?: PortProtocol): MeshConfig {
  const service: Service = {
    key: 'default/backend',
    id: 1,
    name: 'backend',
    namespace: 'default',
    hosts: ['backend.default.svc.cluster.local'],
    addresses: [VIP.address],
    ports: [{ number: VIP.port, name: 'http', protocol, targetPort: 8080 }],
    dataplane: 'proxy',
    endpoints,
    labels: {},
  };
  return { services: [service], workloads: [], nodes: [], peerAuthentications: [], authorizationPolicies: [], source: { files: [], hash: 'test' } };
}

export interface Backend {
  readonly name: string;
  readonly addr: Addr;
  readonly server: http.Server;
  /** Requests served, and distinct upstream connections seen (by client port). */
  requests: number;
  readonly connections: Set<number>;
  close(): Promise<void>;
}

/** An HTTP backend answering `name` with the request headers echoed as JSON (or a custom handler). */
export async function startBackend(name: string, handler?: http.RequestListener): Promise<Backend> {
  const connections = new Set<number>();
  const backend = { name, requests: 0, connections } as Backend & { addr: Addr; server: http.Server };
  const server = http.createServer((req, res) => {
    backend.requests++;
    connections.add(req.socket.remotePort ?? 0);
    if (handler !== undefined) return handler(req, res);
    const body = JSON.stringify({ backend: name, headers: req.headers, url: req.url });
    res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  backend.server = server;
  backend.addr = { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  backend.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return backend;
}

/** A loopback port with nothing listening (connect → ECONNREFUSED). */
export async function closedPort(): Promise<Addr> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return { address: '127.0.0.1', port };
}

export interface Proxy {
  readonly listener: OutboundListener;
  readonly metrics: Metrics;
  readonly balancers: BalancerSet;
  readonly addr: Addr;
  index: ServiceIndex;
  close(): Promise<void>;
}

export async function startProxy(
  cfg: MeshConfig,
  opts: { timeouts?: Partial<Timeouts>; accessLog?: AccessLog; originalDst?: () => Addr | undefined } = {},
): Promise<Proxy> {
  const metrics = new Metrics();
  const balancers = new BalancerSet();
  const proxy = { metrics, balancers, index: new ServiceIndex(cfg) } as Proxy & { listener: OutboundListener; addr: Addr };
  proxy.listener = await createOutboundListener({
    host: '127.0.0.1',
    port: 0,
    deps: {
      originalDst: opts.originalDst ?? (() => VIP),
      index: () => proxy.index,
      metrics,
      balancers,
      // Generous: a slow test machine must not turn an HTTP request into opaque TCP.
      timeouts: { detectMs: 1_000, ...opts.timeouts },
      accessLog: opts.accessLog ?? DISABLED_ACCESS_LOG,
    },
  });
  proxy.addr = proxy.listener.address();
  proxy.close = () => proxy.listener.close(0);
  return proxy;
}

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export function request(
  addr: Addr,
  opts: { path?: string; method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: addr.address, port: addr.port, path: opts.path ?? '/', method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Writes raw bytes on a fresh connection and collects everything until the peer closes, or until the
 * collected text matches `until` (for keep-alive answers).
 */
export function raw(addr: Addr, data: string | Buffer, opts: { end?: boolean; until?: RegExp } = {}): Promise<{ text: string; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const s = net.connect(addr.port, addr.address, () => {
      s.write(data);
      if (opts.end) s.end();
    });
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (opts.until?.test(Buffer.concat(chunks).toString('latin1'))) s.destroy();
    });
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => resolve({ text: Buffer.concat(chunks).toString('latin1'), ...(error !== undefined ? { error } : {}) }));
  });
}

function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

/** Sum of the samples of `name` whose labels include `match` (exposition text, as a scraper sees it). */
export async function sample(metrics: Metrics, name: string, match: Record<string, string> = {}): Promise<number> {
  const text = await metrics.registry.metrics();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const brace = line.indexOf('{');
    const close = line.lastIndexOf('}');
    const labels = brace === -1 ? {} : parseLabels(line.slice(brace + 1, close));
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** Polls `check` until it returns true; bounded in attempts so a broken test fails instead of hanging. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, attempts = 200, everyMs = 10): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`condition never became true: ${what}`);
}
