// Mesh tunnel routes for the outbound side, dialled in-process: the HTTP pools and the TCP proxy dial a
// route's address exactly as they dial an endpoint, and dial.ts hands them a TunnelSocket, a Duplex that
// carries the connection over an HBONE CONNECT stream of the tunnel pool. No local hop: the bytes the
// pool writes go straight into the stream, and the stream's DATA frames reach the pool's reader.
//
// A route is (client workload identity, client address, endpoint): its address is derived from that
// key, so pooled connections are never shared between clients or identities, and the session the
// opener picks is the one of the client's identity (tunnel/client.ts).
//
// Close semantics are those of a TCP connection spliced into the stream (tunnel/splice.ts, RFC 9113
// §8.5): end() half-closes (END_STREAM), the peer's END_STREAM is 'end', a reset stream is an
// ECONNRESET error, and a connection torn down before both directions ended resets the stream.
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import { Duplex } from 'node:stream';
import type { Addr } from '../capture/types';
import { CATALOG, MeshError } from '../errors';
import { logDue, logger } from '../log';

const log = logger('tunnel-route');
const { NGHTTP2_NO_ERROR, NGHTTP2_CONNECT_ERROR, NGHTTP2_CANCEL } = http2.constants;

export interface TunnelRoute {
  /** SPIFFE id of the client workload. */
  readonly identity: string;
  /** The endpoint as the balancer knows it (pod ip:port). */
  readonly target: Addr;
  /** The client workload (its IP, port 0) for `forwarded: for=`. */
  readonly client: Addr;
}

/** Opens the route's CONNECT stream (resolves once the peer answered 200). */
export type TunnelOpener = (route: TunnelRoute) => Promise<Duplex>;

const PREFIX = 'hbone:';
const REFUSED = `${PREFIX}refused|`;

/**
 * Dialled for mesh endpoint TARGET asked for by CLIENT (an IP), a client that is not a mesh workload:
 * with no identity there is no tunnel to open, and a mesh endpoint is never dialled in plaintext. The
 * connect fails with NM_E_NOT_MESH_WORKLOAD saying so (503 UF, the access log's termination details),
 * and a warning names the client and the endpoint (at most once per pair every REFUSAL_LOG_EVERY_MS).
 */
export function refusedRoute(client: string, target: Addr): Addr {
  return Object.freeze({ address: `${REFUSED}${client}|${target.address}|${target.port}`, port: 0 });
}

/** The client and endpoint of a refusedRoute address; undefined for any other address. */
export function refusalOf(addr: Addr): { readonly client: string; readonly target: Addr } | undefined {
  if (addr.port !== 0 || !addr.address.startsWith(REFUSED)) return undefined;
  const [client = '', address = '', port = ''] = addr.address.slice(REFUSED.length).split('|');
  return { client, target: { address, port: Number(port) } };
}

/** The connect error of a refused route: the access log's connection_termination_details. */
export function notMeshWorkload(client: string, target: Addr): MeshError {
  const e = new MeshError('NOT_MESH_WORKLOAD', undefined, { client, endpoint: `${target.address}:${target.port}` });
  e.message = `client ${client} is not a mesh workload: ${CATALOG.NOT_MESH_WORKLOAD.message} (${target.address}:${target.port})`;
  return e;
}

export const REFUSAL_LOG_EVERY_MS = 60_000;

const refusalsLogged = new Map<string, number>();
/** Route address → its route and opener, for every TunnelRoutes of the process. */
const registry = new Map<string, { readonly route: TunnelRoute; readonly open: TunnelOpener }>();
let sets = 0;

export const isTunnelAddr = (a: Addr): boolean => a.port === 0 && a.address.startsWith(PREFIX);

const keyOf = (r: TunnelRoute): string => `${r.identity}|${r.client.address}|${r.target.address}:${r.target.port}`;

/** The routes of one mesh plane. Registering a route is synchronous, so it is dialable at once. */
export class TunnelRoutes {
  private readonly prefix = `${PREFIX}${++sets}:`;
  private readonly mine = new Set<string>();
  /** identity → client address → target address → target port → the route's address. ensure() runs
   *  for every request to a mesh endpoint: a known route is found without building its key. */
  private readonly known = new Map<string, Map<string, Map<string, Map<number, Addr>>>>();

  constructor(private readonly open: TunnelOpener) {}

  /** The address of ROUTE (the same for the same route, so pool keys stay stable across reloads). */
  ensure(route: TunnelRoute): Addr {
    const found = this.known.get(route.identity)?.get(route.client.address)?.get(route.target.address)?.get(route.target.port);
    if (found !== undefined) return found;
    const address = this.prefix + keyOf(route);
    if (!this.mine.has(address)) {
      this.mine.add(address);
      registry.set(address, { route, open: this.open });
    }
    const addr: Addr = Object.freeze({ address, port: 0 });
    const level = <K, V>(m: Map<K, V>, k: K, make: () => V): V => {
      let v = m.get(k);
      if (v === undefined) m.set(k, (v = make()));
      return v;
    };
    const byClient = level(this.known, route.identity, () => new Map<string, Map<string, Map<number, Addr>>>());
    const byTarget = level(byClient, route.client.address, () => new Map<string, Map<number, Addr>>());
    level(byTarget, route.target.address, () => new Map<number, Addr>()).set(route.target.port, addr);
    return addr;
  }

  /** Forgets the routes no longer wanted (connections made through them carry on). */
  retain(keep: (route: TunnelRoute) => boolean): void {
    for (const a of this.mine) {
      const r = registry.get(a);
      if (r !== undefined && keep(r.route)) continue;
      this.mine.delete(a);
      registry.delete(a);
    }
    // Rebuilt on use: a forgotten route asked for again is registered anew.
    this.known.clear();
  }

  get size(): number {
    return this.mine.size;
  }

  close(): void {
    for (const a of this.mine) registry.delete(a);
    this.mine.clear();
    this.known.clear();
  }
}

export interface TunnelDialOptions {
  /** node's `onread`: reads are handed to the callback instead of 'data' events. */
  readonly onread?: net.OnReadOpts;
}

/** A connection over ADDR's route, connecting; undefined if ADDR names no route (anymore). */
export function dialTunnel(addr: Addr, o: TunnelDialOptions = {}): net.Socket {
  const r = registry.get(addr.address);
  if (r === undefined) {
    const refused = refusalOf(addr);
    if (refused !== undefined) return refuse(refused.client, refused.target, o);
    // A route forgotten since it was handed out (a reload removed its client or endpoint): a connect failure.
    const gone = new MeshError('TUNNEL_CONNECT', `${CATALOG.TUNNEL_CONNECT.message}: its route was removed by a config reload`);
    return new TunnelSocket(Promise.reject(gone), o.onread) as unknown as net.Socket;
  }
  // The pools and the TCP proxy use the part of net.Socket that TunnelSocket implements.
  const opening = r.open(r.route).catch((e: unknown) => {
    log.warn({ err: e, target: r.route.target, identity: r.route.identity }, 'tunnel open failed');
    throw e;
  });
  return new TunnelSocket(opening, o.onread) as unknown as net.Socket;
}

/** A connection that fails to connect, as a refused TCP connect does, with the refusal's reason. */
function refuse(client: string, target: Addr, o: TunnelDialOptions): net.Socket {
  const err = notMeshWorkload(client, target);
  if (logDue(refusalsLogged, `${client}|${target.address}|${target.port}`, Date.now(), REFUSAL_LOG_EVERY_MS)) {
    log.warn({ code: err.code, client, endpoint: `${target.address}:${target.port}` }, `${err.message}; mesh endpoints are reached only through the mTLS tunnel (at most one line per client and endpoint a minute in each proxy worker)`);
  }
  return new TunnelSocket(Promise.reject(err), o.onread) as unknown as net.Socket;
}

type Stream = Duplex & Pick<http2.Http2Stream, 'close' | 'rstCode' | 'closed' | 'session'>;

/** A connection through a CONNECT stream, shaped as the part of net.Socket its users need. */
export class TunnelSocket extends Duplex {
  /** True until the peer answered (then 'connect' is emitted), as for a TCP connect. */
  connecting = true;
  private stream: Stream | undefined;
  /** Writes and the final end() issued before the stream was open. */
  private queued: Array<{ chunk: Buffer; cb: (e?: Error | null) => void }> = [];
  private queuedFinal: ((e?: Error | null) => void) | undefined;
  private peerEnded = false;
  private readonly onread: ((n: number, buf: Uint8Array) => boolean | void) | undefined;

  constructor(opening: Promise<Duplex>, onread: net.OnReadOpts | undefined) {
    super({ allowHalfOpen: true, decodeStrings: true });
    this.onread = onread?.callback;
    // With onread nobody reads: the readable side flows so that the end of the stream is still 'end'.
    if (this.onread !== undefined) this.resume();
    opening.then(
      (s) => this.attach(s as Stream),
      (e: unknown) => {
        if (!this.destroyed) this.destroy(e as Error);
      },
    );
  }

  get localAddress(): string | undefined {
    return this.stream?.session?.socket?.localAddress;
  }

  get localPort(): number | undefined {
    return this.stream?.session?.socket?.localPort;
  }

  get remoteAddress(): string | undefined {
    return this.stream?.session?.socket?.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.stream?.session?.socket?.remotePort;
  }

  // The tunnel's own TLS socket has TCP_NODELAY and its keep-alive; per connection these are no-ops.
  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  setTimeout(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  // With onread, pausing the socket holds the stream (as node stops reading a socket); otherwise the
  // readable side's own backpressure does (push() returning false, then _read()).
  override pause(): this {
    if (this.onread !== undefined) this.stream?.pause();
    return super.pause();
  }

  override resume(): this {
    if (this.onread !== undefined) this.stream?.resume();
    return super.resume();
  }

  private attach(s: Stream): void {
    if (this.destroyed) {
      // Given up (a connect timeout, the client gone) while the stream was being opened.
      if (!s.closed && !s.destroyed) s.close(NGHTTP2_CANCEL);
      return;
    }
    this.stream = s;
    this.connecting = false;
    s.on('data', (c: Buffer) => {
      if (this.onread !== undefined) {
        if (this.onread(c.length, c) === false) s.pause();
      } else if (!this.push(c)) s.pause();
    });
    // END_STREAM is the peer's FIN, delivered one turn later: node writes END_STREAM right before the
    // RST_STREAM of a reset, which must not read as a clean end followed by an error.
    s.on('end', () =>
      setImmediate(() => {
        if ((s.rstCode ?? NGHTTP2_NO_ERROR) !== NGHTTP2_NO_ERROR || this.destroyed) return;
        this.peerEnded = true;
        this.push(null);
      }),
    );
    s.on('error', (e: Error) => log.debug({ err: e.message }, 'tunnel stream error'));
    s.on('close', () => {
      if (this.destroyed) return;
      const code = s.rstCode ?? NGHTTP2_NO_ERROR;
      if (code !== NGHTTP2_NO_ERROR) this.destroy(Object.assign(new Error(`tunnel stream reset (code ${code})`), { code: 'ECONNRESET' }));
      // After both END_STREAMs this closes by itself once its reader took the rest ('end' + 'finish');
      // a stream closed before this side ended cannot take more writes: the connection is over.
      else
        setImmediate(() => {
          if (!this.writableFinished) this.destroy();
        });
    });
    this.emit('connect');
    const queued = this.queued;
    this.queued = [];
    for (const q of queued) this.send(q.chunk, q.cb);
    const final = this.queuedFinal;
    this.queuedFinal = undefined;
    if (final !== undefined) this._final(final);
    if (this.onread === undefined) return;
    if (this.isPaused()) s.pause();
  }

  private send(chunk: Buffer, cb: (e?: Error | null) => void): void {
    const s = this.stream!;
    if (s.destroyed || s.writableEnded) return cb();
    // Backpressure is the stream's: the callback waits for 'drain' only when the stream is full.
    if (s.write(chunk)) cb();
    else s.once('drain', () => cb());
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.stream === undefined) this.queued.push({ chunk, cb });
    else this.send(chunk, cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    const s = this.stream;
    if (s === undefined) this.queuedFinal = cb;
    // A stream already gone (reset, session closed) has nothing to end: its 'close' tears this down.
    else if (s.destroyed || s.writableEnded) cb();
    else s.end(cb);
  }

  override _read(): void {
    if (this.onread === undefined) this.stream?.resume();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    const s = this.stream;
    // A connection torn down before both directions ended (or with an error) resets the stream, as a
    // local RST would; after both FINs the stream closes on its own.
    if (s !== undefined && !s.closed && !s.destroyed && (err !== null || !this.peerEnded || !this.writableFinished)) s.close(NGHTTP2_CONNECT_ERROR);
    // A write still waiting for the stream is dropped with the connection (node fails the buffered ones).
    this.queued = [];
    cb(err);
  }
}
