// The one place upstream connections are opened, for the HTTP/1.1 pool, the HTTP/2 pool and opaque
// TCP alike: a TCP connection to an endpoint (or a mesh tunnel route's CONNECT stream, tunnelsock.ts), wrapped in
// node:tls when the destination originates TLS (tls.ts). Callers wait for `ready`: 'connect' for
// plaintext, 'secureConnect' for TLS, so a failed handshake or a refused certificate is a connect
// failure (503 UF), never a reset of a request already sent.
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Addr } from '../capture/types';
import { CATALOG } from '../errors';
import { logDue, logger } from '../log';
import { dialTunnel, isTunnelAddr } from './tunnelsock';
import { connectOptions, type UpstreamTls } from './tls';

const log = logger('upstream');

/** A Unix-socket "address" (a path, port 0): dialled as a path, without TCP options. */
const isSocketPath = (a: Addr): boolean => a.port === 0 && a.address.startsWith('/');

export interface DialOptions {
  /** Binds the local end (ignored for a Unix socket). */
  readonly localAddress?: string;
  readonly allowHalfOpen?: boolean;
  /** node's `onread`: reads into a caller's buffer instead of 'data' events. */
  readonly onread?: net.OnReadOpts;
  /** Originate TLS with these settings. */
  readonly tls?: UpstreamTls;
  /** ALPN protocols to offer over TLS (h2 or http/1.1 by the upstream protocol; none for TCP). */
  readonly alpn?: readonly string[];
}

export interface Dialled {
  readonly socket: net.Socket;
  /** The event after which the connection carries bytes. */
  readonly ready: 'connect' | 'secureConnect';
}

const UNUSABLE = '/nonexistent/nodemesh-tls-files-unreadable';

export const ALPN_H2: readonly string[] = Object.freeze(['h2']);
export const ALPN_HTTP1: readonly string[] = Object.freeze(['http/1.1']);

export function dial(addr: Addr, o: DialOptions = {}): Dialled {
  if (isTunnelAddr(addr)) return viaTunnel(addr, o);
  const where = isSocketPath(addr)
    ? { path: addr.address }
    : { host: addr.address, port: addr.port, ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}) };
  const common = { ...(o.allowHalfOpen ? { allowHalfOpen: true } : {}), ...(o.onread !== undefined ? { onread: o.onread } : {}) };
  if (o.tls === undefined) return { socket: net.connect({ ...where, ...common, ...(isSocketPath(addr) ? {} : { noDelay: true }) }), ready: 'connect' };
  const opts = connectOptions(o.tls, o.alpn);
  if (opts instanceof Error) {
    // The files went away since the config was loaded: no connection to the endpoint is tried. The
    // socket is a connect still in progress (to a path that does not exist) failed with the file error
    // before it completes, so every caller sees a connect failure, as for a refused connection
    // (node's http2 would take an idle unconnected socket for a connected one).
    const s = net.connect({ path: UNUSABLE });
    failed(o.tls, addr, opts);
    process.nextTick(() => s.destroy(opts));
    return { socket: s, ready: 'connect' };
  }
  const socket = tls.connect({ ...where, ...common, ...opts });
  if (!isSocketPath(addr)) socket.setNoDelay(true);
  // A handshake that fails (a refused certificate, a SAN mismatch, no common protocol) is logged;
  // a refused or reset TCP connect is an ordinary connect failure.
  let stage = 0;
  socket.once('connect', () => (stage = 1));
  socket.once('secureConnect', () => (stage = 2));
  socket.once('error', (err) => {
    if (stage === 1) failed(o.tls!, addr, err);
  });
  return { socket, ready: 'secureConnect' };
}

/** A connection over a mesh tunnel route: in-process, no socket of its own (TLS, if any, runs over it). */
function viaTunnel(addr: Addr, o: DialOptions): Dialled {
  const plain = o.tls === undefined;
  const t = dialTunnel(addr, plain && o.onread !== undefined ? { onread: o.onread } : {});
  if (plain) return { socket: t, ready: 'connect' };
  const opts = connectOptions(o.tls!, o.alpn);
  if (opts instanceof Error) {
    failed(o.tls!, addr, opts);
    process.nextTick(() => t.destroy(opts));
    return { socket: t, ready: 'connect' };
  }
  const socket = tls.connect({ ...opts, socket: t, ...(o.onread !== undefined ? { onread: o.onread } : {}) });
  return { socket, ready: 'secureConnect' };
}

/** Log lines for failed TLS origination, at most one per (settings, message) per interval. */
const LOG_EVERY_MS = 10_000;
const logged = new Map<string, number>();

function failed(u: UpstreamTls, addr: Addr, err: Error): void {
  if (!logDue(logged, `${u.id}|${err.message}`, Date.now(), LOG_EVERY_MS)) return;
  const code = (err as NodeJS.ErrnoException).code;
  log.warn(
    { code: CATALOG.UPSTREAM_TLS.code, tlsError: code, endpoint: addr.port === 0 ? 'tunnel' : `${addr.address}:${addr.port}`, sni: u.servername ?? null },
    `${CATALOG.UPSTREAM_TLS.message}: ${err.message}`,
  );
}
