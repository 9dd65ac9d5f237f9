// Backends and config documents for e2e tests.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Backend {
  name: string;
  port: number;
  hits: number;
  server: http.Server;
}

/** An HTTP server on 127.0.0.1:0 that answers its own name (also used raw for TCP tests). */
export async function backend(name: string): Promise<Backend> {
  const b: Backend = { name, port: 0, hits: 0, server: http.createServer() };
  b.server.on('request', (req, res) => {
    b.hits++;
    req.resume();
    req.on('end', () => res.end(name));
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.port = (b.server.address() as AddressInfo).port;
  return b;
}

export async function closeAll(bs: readonly Backend[]): Promise<void> {
  await Promise.all(bs.map((b) => new Promise<void>((r) => (b.server.closeAllConnections(), b.server.close(() => r())))));
}

let vipSeq = 0;
/** A VIP in 127.0.0.0/8 unique to this process and call: a failed redirect fails locally. */
export const vip = (): string => `127.${200 + (process.pid % 50)}.${(process.pid >> 6) % 250}.${++vipSeq}`;

export interface SvcDoc {
  name: string;
  vip: string;
  ports: number[];
  kernel?: boolean;
  protocol?: string;
  port?: number;
  extra?: string;
}

export function serviceEntry(s: SvcDoc): string {
  const labels = s.kernel ? `\n  labels:\n    nodemesh.io/dataplane: kernel` : '';
  const eps = s.ports.map((p) => `  - address: 127.0.0.1\n    ports:\n      web: ${p}`).join('\n');
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${s.name}
  namespace: e2e${labels}
spec:
  hosts: [${s.name}.e2e.svc.cluster.local]
  addresses: [${s.vip}]
  ports:
  - number: ${s.port ?? 80}
    name: web
    protocol: ${s.protocol ?? (s.kernel ? 'TCP' : 'HTTP')}
  resolution: STATIC
  endpoints:
${eps}${s.extra ?? ''}
`;
}

export const docs = (...d: string[]): string => d.join('---\n');

export interface LabeledEndpoint {
  readonly port: number;
  readonly labels?: Record<string, string>;
}

/** A ServiceEntry whose endpoints (all on 127.0.0.1) carry labels, for DestinationRule subsets. */
export function labeledService(s: { name: string; vip: string; port?: number; protocol?: string; endpoints: readonly LabeledEndpoint[] }): string {
  const eps = s.endpoints
    .map((e) => {
      const labels = Object.entries(e.labels ?? {}).map(([k, v]) => `\n      ${k}: "${v}"`).join('');
      return `  - address: 127.0.0.1\n    ports:\n      web: ${e.port}${labels ? `\n    labels:${labels}` : ''}`;
    })
    .join('\n');
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${s.name}
  namespace: e2e
spec:
  hosts: [${s.name}.e2e.svc.cluster.local]
  addresses: [${s.vip}]
  ports:
  - number: ${s.port ?? 80}
    name: web
    protocol: ${s.protocol ?? 'HTTP'}
  resolution: STATIC
  endpoints:
${eps}
`;
}

/** An HTTP backend whose answer is decided per request (status and body), counting hits. */
export async function scriptedBackend(name: string, answer: (n: number, req: http.IncomingMessage) => { status: number; body?: string; delayMs?: number }): Promise<Backend> {
  const b: Backend = { name, port: 0, hits: 0, server: http.createServer() };
  b.server.on('request', (req, res) => {
    const n = ++b.hits;
    req.resume();
    req.on('end', () => {
      const a = answer(n, req);
      const send = (): void => void res.writeHead(a.status, { 'content-type': 'text/plain' }).end(a.body ?? name);
      if (a.delayMs) setTimeout(send, a.delayMs);
      else send();
    });
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.port = (b.server.address() as AddressInfo).port;
  return b;
}
