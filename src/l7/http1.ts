// HTTP/1.1 at L7: captured connections detected as HTTP/1 are handed to one node http.Server (never
// listening itself; sockets arrive via emit('connection')), so llhttp does the parsing and its strict
// checks (request line, CL+TE, header size) protect upstreams. Each request becomes an Exchange.
import * as http from 'node:http';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { CATALOG, type ErrorName } from '../errors';
import type { BalancerSet } from '../balance/set';
import type { Timeouts } from '../listener/timeouts';
import { contextOf, type ServiceLookup } from '../listener/context';
import type { AccessLog } from '../telemetry/accesslog';
import { formatAddr } from '../telemetry/accesslog';
import type { Metrics } from '../telemetry/metrics';
import type { UpstreamPool } from '../upstream/pool';
import { errorCode } from '../upstream/failure';
import { logger } from '../log';
import { Exchange } from './exchange';

const log = logger('http1');

/** Envoy's default request-headers cap. */
export const MAX_HEADER_BYTES = 60 * 1024;

export interface Http1Deps {
  readonly metrics: Metrics;
  readonly balancers: BalancerSet;
  readonly timeouts: Timeouts;
  readonly accessLog: AccessLog;
  readonly pool: UpstreamPool;
  readonly index: () => ServiceLookup;
  /** True while the listener drains: responses carry "connection: close". */
  readonly draining: () => boolean;
}

/** How a client-side parse failure is answered. 431 for oversized headers is what node and nginx send. */
export function clientErrorAnswer(code: string | undefined): { readonly error: ErrorName; readonly status: number } | undefined {
  switch (code) {
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ETIMEDOUT':
      return undefined;
    case 'HPE_HEADER_OVERFLOW':
      return { error: 'HEADERS_TOO_LARGE', status: 431 };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { error: 'REQUEST_HEADERS_TIMEOUT', status: 408 };
    default:
      return { error: 'BAD_REQUEST', status: 400 };
  }
}

export class Http1Proxy {
  private readonly server: http.Server;

  constructor(private readonly deps: Http1Deps) {
    const t = deps.timeouts;
    const headersMs = t.downstreamRequestMs > 0 ? Math.min(t.headersMs, t.downstreamRequestMs) : t.headersMs;
    this.server = http.createServer(
      {
        maxHeaderSize: MAX_HEADER_BYTES,
        requireHostHeader: false,
        headersTimeout: headersMs,
        requestTimeout: t.downstreamRequestMs,
        keepAliveTimeout: t.downstreamIdleMs,
        // Deadlines are checked on this tick, so it bounds how late a slowloris client is cut off.
        connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersMs / 4) || 1_000)),
        noDelay: true,
      },
      (req, res) => this.onRequest(req, res),
    );
    this.server.on('clientError', (err: Error, socket: Duplex) => this.onClientError(err, socket as net.Socket));
    // node tracks per-connection header/request deadlines only once a server is 'listening'; this one
    // is fed sockets by the outbound listener, so start the tracker explicitly.
    this.server.emit('listening');
  }

  /** Takes over a connection detected as HTTP/1 (paused, with its first bytes unshifted). */
  serve(socket: net.Socket): void {
    this.server.emit('connection', socket);
    // Flush the unshifted bytes into the parser before any new data reaches it from the handle.
    socket.resume();
  }

  /** Closes idle keep-alive connections; busy ones close after their current response. */
  drain(): void {
    this.server.closeIdleConnections();
  }

  /** Stops the deadline tracker; the listener destroys the sockets. */
  close(): void {
    this.server.close(() => undefined);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const ctx = contextOf(req.socket);
    if (ctx === undefined) {
      res.destroy();
      return;
    }
    try {
      new Exchange(this.deps, ctx, req, res).start();
    } catch (err) {
      // A bug must cost one request, never the process.
      log.error({ err }, 'request handling failed');
      if (!res.headersSent) {
        res.writeHead(500, { 'content-length': '0', connection: 'close' });
        res.end();
      } else res.destroy();
    }
  }

  private onClientError(err: Error, socket: net.Socket): void {
    const ctx = contextOf(socket);
    const answer = clientErrorAnswer(errorCode(err));
    // Nothing to answer on a dead socket, or while a response is mid-flight on it (it would corrupt it).
    if (answer === undefined || !socket.writable || (ctx !== undefined && ctx.inflight > 0)) {
      if (answer !== undefined && ctx !== undefined) ctx.protocolError = true;
      socket.destroy();
      return;
    }
    const { status, error } = answer;
    const flag = (CATALOG[error] as { flag?: string }).flag ?? '-';
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    // end() lets the answer reach the client before FIN; the timeout bounds a client that never closes.
    socket.setTimeout(1_000, () => socket.destroy());
    if (ctx === undefined) return;
    if (status !== 408) this.deps.metrics.http(ctx.source, ctx.service, undefined).record(status, flag, 0, 0, 0);
    log.debug({ code: CATALOG[error].code, reason: errorCode(err), peer: formatAddr(ctx.peer) }, CATALOG[error].message);
    if (this.deps.accessLog.enabled) {
      this.deps.accessLog.write({
        start_time: new Date().toISOString(),
        method: null,
        path: null,
        protocol: 'HTTP/1.1',
        response_code: status,
        response_flags: flag,
        bytes_received: 0,
        bytes_sent: 0,
        duration: 0,
        upstream_service_time: null,
        x_forwarded_for: null,
        user_agent: null,
        request_id: null,
        authority: null,
        upstream_host: null,
        upstream_cluster: ctx.cluster,
        upstream_local_address: null,
        downstream_local_address: formatAddr(ctx.vip),
        downstream_remote_address: formatAddr(ctx.peer),
        connection_termination_details: err.message,
      });
    }
  }
}
