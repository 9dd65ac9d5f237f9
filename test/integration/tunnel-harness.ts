// Shared fixtures of the tunnel tests: identities, the destination node's mesh config, pods (a TCP
// echo, an h2c server), a tunnel server wired like the destination agent (onStream joins the stream to
// a TCP connection to the target), a pool wired like the source agent, and raw TLS / TCP clients for
// the garbage cases.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import type { Addr } from '../../src/capture/types';
import { TunnelPool, type TunnelPoolOptions } from '../../src/tunnel/client';
import type { RejectReason } from '../../src/tunnel/metrics';
import { startTunnelServer, type TunnelServer, type TunnelServerOptions, type TunnelStreamContext } from '../../src/tunnel/server';
import { splice } from '../../src/tunnel/splice';
import type { KeyCert } from '../../src/tunnel/tls';
import { meshConfig, shopWorkload, type ServiceSpec, type WorkloadSpec } from '../helpers/cluster-config';
import { createRoot, svid, type TestRoot } from './tunnel-pki';

export const TD = 'cluster.local';
export const spiffe = (ns: string, sa: string, td = TD): string => `spiffe://${td}/ns/${ns}/sa/${sa}`;
export const CLIENT_ID = spiffe('shop', 'frontend');
export const SERVER_ID = spiffe('shop', 'backend');
export const LOCAL = '127.0.0.1';
/** The frontend pod on the other node (node-1), the client the source agent forwards. */
export const CLIENT_IP = '10.1.2.3';

/** The destination node's config: this node (node-0, 127.0.0.1) runs the backend pod at LOCAL, node-1
 *  (10.0.0.2) the frontend at CLIENT_IP; then more WORKLOADS, the SERVICES and EXTRA documents. */
export function destinationConfig(services: readonly ServiceSpec[], extra: readonly object[] = [], workloads: readonly WorkloadSpec[] = []): string {
  return meshConfig({
    nodes: [
      { name: 'node-0', ip: LOCAL },
      { name: 'node-1', ip: '10.0.0.2' },
    ],
    workloads: [shopWorkload('backend-0', LOCAL, 'node-0', 'backend'), shopWorkload('frontend-0', CLIENT_IP, 'node-1', 'frontend'), ...workloads],
    services,
    extra,
  });
}

/** What the server and pool fixtures need: the root PEM and SVIDs by SPIFFE id (tests replace
 *  entries to rotate). */
export interface Trust {
  readonly root: { readonly pem: string };
  readonly certs: Map<string, KeyCert>;
}

export interface Pki extends Trust {
  readonly root: TestRoot;
}

export async function pki(ids: readonly string[] = [CLIENT_ID, SERVER_ID]): Promise<Pki> {
  const root = await createRoot();
  const certs = new Map<string, KeyCert>();
  for (const id of ids) certs.set(id, await svid(root, id));
  return { root, certs };
}

/** Listens SERVER (a pod, a key server) on HOST, port 0; resolves with its address. */
export async function listenOn(server: net.Server, host = LOCAL): Promise<Addr> {
  server.listen(0, host);
  await once(server, 'listening');
  return { address: host, port: (server.address() as net.AddressInfo).port };
}

/** An h2c pod: each stream's request body is read, then ANSWER responds. Not yet listening. */
export function h2cPod(answer: (s: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): http2.Http2Server {
  const server = http2.createServer();
  server.on('stream', (s, h) => {
    s.resume();
    s.on('end', () => answer(s, h));
  });
  return server;
}

export interface Echo {
  readonly addr: Addr;
  /** Errors the echo's accepted sockets saw (ECONNRESET when a reset crossed the tunnel). */
  readonly errors: string[];
  close(): Promise<void>;
}

/** Echoes bytes back and ends its side once the client's FIN arrived (so half-close is visible). */
export async function echoServer(): Promise<Echo> {
  const sockets = new Set<net.Socket>();
  const errors: string[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', (e: Error & { code?: string }) => errors.push(e.code ?? e.message));
    s.pipe(s);
  });
  server.listen(0, LOCAL);
  await once(server, 'listening');
  return {
    addr: { address: LOCAL, port: (server.address() as net.AddressInfo).port },
    errors,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface TestTunnel {
  readonly server: TunnelServer;
  readonly addr: Addr;
  readonly rejected: Map<RejectReason, number>;
  readonly streams: TunnelStreamContext[];
  count(reason: RejectReason): number;
}

/** A tunnel server that serves `SERVER_ID` (for any SNI) and forwards to targets on 127.0.0.1. */
export async function startTestServer(p: Trust, over: Partial<TunnelServerOptions> = {}): Promise<TestTunnel> {
  const rejected = new Map<RejectReason, number>();
  const streams: TunnelStreamContext[] = [];
  const server = await startTunnelServer({
    host: LOCAL,
    port: 0,
    trustDomain: TD,
    certFor: (id) => p.certs.get(id ?? SERVER_ID),
    rootPem: () => p.root.pem,
    isLocalTarget: (t) => t.address === LOCAL,
    onStream: async (ctx) => {
      streams.push(ctx);
      const pod = net.connect({ host: ctx.target.address, port: ctx.target.port, allowHalfOpen: true });
      try {
        await once(pod, 'connect');
      } catch {
        ctx.reject(503);
        return;
      }
      void splice(ctx.stream, pod);
    },
    metrics: { rejected: (r) => rejected.set(r, (rejected.get(r) ?? 0) + 1) },
    ...over,
  });
  return { server, addr: server.address(), rejected, streams, count: (r) => rejected.get(r) ?? 0 };
}

export function testPool(p: Trust, over: Partial<TunnelPoolOptions> = {}): TunnelPool {
  return new TunnelPool({ certFor: (id) => p.certs.get(id), rootPem: () => p.root.pem, trustDomain: TD, connectTimeoutMs: 3_000, ...over });
}

/** Opens a tunnel stream from CLIENT_ID to `target` through `node`. */
export function openTo(pool: TunnelPool, node: Addr, target: Addr, extra: { destination?: string; headers?: Record<string, string> } = {}): Promise<http2.ClientHttp2Stream> {
  return pool.open({
    sourceIdentity: CLIENT_ID,
    destinationIdentities: [extra.destination ?? SERVER_ID],
    node,
    target,
    forwardedFor: { address: '10.1.2.3', port: 40000 },
    ...(extra.headers ? { headers: extra.headers } : {}),
  });
}

/** Sends raw HTTP/1 bytes on a tunnel stream and reads everything until the destination ends it. */
export async function h1Exchange(stream: http2.ClientHttp2Stream, bytes: string): Promise<string> {
  let out = '';
  stream.setEncoding('latin1');
  stream.on('data', (d: string) => (out += d));
  stream.write(bytes);
  await once(stream, 'end');
  stream.end();
  return out;
}

/** Writes `payload`, half-closes, and collects what comes back until the peer's END_STREAM. */
export async function roundTrip(stream: NodeJS.ReadWriteStream & { on(e: 'error', l: (e: Error) => void): unknown }, payload: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(stream, 'end');
  stream.end(payload);
  await ended;
  return Buffer.concat(chunks);
}

/** Polls until `cond` holds (metrics and counters are updated asynchronously). */
export async function eventually(cond: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A raw TLS connection to the tunnel port; resolves with how it ended ('still open' after 2 s). */
export function rawTls(addr: Addr, opts: tls.ConnectionOptions): Promise<{ error?: string; alpn?: string | false; data: string }> {
  return new Promise((resolve) => {
    let data = '';
    const s = tls.connect({ host: addr.address, port: addr.port, rejectUnauthorized: false, ...opts });
    const timer = setTimeout(() => {
      resolve({ error: 'still open', data });
      s.destroy();
    }, 2_000);
    s.on('close', () => clearTimeout(timer));
    s.setEncoding('latin1');
    s.on('secureConnect', () => {
      // TLS 1.3: a rejected client certificate is only reported after the client's handshake, so
      // give the server something to answer.
      s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    });
    s.on('data', (d: string) => (data += d));
    s.on('error', (e: Error & { code?: string }) => resolve({ error: e.code ?? e.message, alpn: s.alpnProtocol ?? false, data }));
    s.on('close', () => resolve({ alpn: s.alpnProtocol ?? false, data }));
  });
}

/** Sends cleartext bytes and resolves when the server closed the connection. */
export function rawTcp(addr: Addr, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = net.connect(addr.port, addr.address, () => s.write(bytes));
    s.setEncoding('latin1');
    s.on('data', (d: string) => (data += d));
    s.on('error', () => undefined);
    s.on('close', () => resolve(data));
  });
}
