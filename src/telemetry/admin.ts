// Istio's agent ports: Prometheus scrape (:15020, /metrics and /stats/prometheus) and readiness
// (:15021, /healthz/ready). Plain node http; both ports may be 0 (tests) or the same port.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Addr } from '../capture/types';
import { MeshError } from '../errors';
import { logger } from '../log';

const log = logger('admin');

export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

export interface AdminOptions {
  readonly host: string;
  readonly metricsPort: number;
  readonly readyPort: number;
  /** One exposition of the agent's metrics (every worker's, summed, and the main thread's). */
  readonly scrape: () => Promise<{ readonly text: string; readonly contentType: string }>;
  readonly ready: () => Readiness;
}

export interface AdminServer {
  readonly metrics: Addr;
  readonly readiness: Addr;
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function pathOf(req: http.IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function metricsHandler(scrape: AdminOptions['scrape']): Handler {
  return (req, res) => {
    const path = pathOf(req);
    if (path !== '/metrics' && path !== '/stats/prometheus') return false;
    scrape().then(
      (m) => send(res, 200, m.text, m.contentType),
      (err: unknown) => {
        log.error({ err }, 'metrics collection failed');
        send(res, 500, 'metrics collection failed\n');
      },
    );
    return true;
  };
}

function readyHandler(ready: () => Readiness): Handler {
  return (req, res) => {
    // Liveness: the process answers. Never tied to readiness, whose reasons (an API or a CA that is
    // away) a restart would not cure.
    if (pathOf(req) === '/healthz/live') return (send(res, 200, 'live\n'), true);
    if (pathOf(req) !== '/healthz/ready') return false;
    let r: Readiness;
    try {
      r = ready();
    } catch (err) {
      r = { ready: false, reasons: [`readiness check failed: ${(err as Error).message}`] };
    }
    if (r.ready) send(res, 200, 'ready\n');
    else send(res, 503, r.reasons.length > 0 ? `${r.reasons.join('\n')}\n` : 'not ready\n');
    return true;
  };
}

function listen(host: string, port: number, handlers: Handler[]): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    for (const h of handlers) if (h(req, res)) return;
    send(res, 404, 'not found\n');
  });
  // Scrapers and kubelet probes are short-lived; don't let them hold the agent open on shutdown.
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new MeshError('LISTEN', `${host}:${port}: ${err.message}`, { host, port }, { cause: err })));
    // reusePort: the next agent's probes and scrapes are answered while this one drains.
    server.listen({ port, host, reusePort: true }, () => {
      server.on('error', (err) => log.error({ err }, 'admin server error'));
      resolve(server);
    });
  });
}

function addrOf(server: http.Server): Addr {
  const a = server.address() as AddressInfo;
  return { address: a.address, port: a.port };
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function startAdmin(opts: AdminOptions): Promise<AdminServer> {
  const metrics = metricsHandler(opts.scrape);
  const ready = readyHandler(opts.ready);
  if (opts.metricsPort !== 0 && opts.metricsPort === opts.readyPort) {
    const both = await listen(opts.host, opts.metricsPort, [metrics, ready]);
    return { metrics: addrOf(both), readiness: addrOf(both), close: () => closeServer(both) };
  }
  const m = await listen(opts.host, opts.metricsPort, [metrics]);
  let r: http.Server;
  try {
    r = await listen(opts.host, opts.readyPort, [ready]);
  } catch (err) {
    await closeServer(m);
    throw err;
  }
  return {
    metrics: addrOf(m),
    readiness: addrOf(r),
    close: async () => {
      await Promise.all([closeServer(m), closeServer(r)]);
    },
  };
}
