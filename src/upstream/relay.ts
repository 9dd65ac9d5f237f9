// Entry points into the mesh tunnel for the outbound fast path: one Unix socket per (client workload,
// endpoint), in a directory only the agent can open (0700; TCP on loopback would let any process of a
// hostNetwork node borrow a workload's identity). The HTTP pool and the TCP proxy dial a relay exactly
// as they dial an endpoint, and the relay carries each connection over an HBONE stream. The cost is one
// local hop; what it buys is that the fast path never handles TLS or HTTP/2.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import type * as http2 from 'node:http2';
import type { Addr } from '../capture/types';
import { logger } from '../log';
import { abort, splice } from '../tunnel/splice';

const log = logger('relay');

export interface RelayRoute {
  /** SPIFFE id of the client workload. */
  readonly identity: string;
  /** The endpoint as the balancer knows it (pod ip:port). */
  readonly target: Addr;
  /** The client workload (its IP, port 0) for `forwarded: for=`. */
  readonly client: Addr;
}

/** A Unix-socket "address" as the pool and the TCP proxy dial it: the path, with port 0. */
export const isSocketPath = (a: Addr): boolean => a.port === 0 && a.address.startsWith('/');

/** Dialled for mesh endpoints that have no relay (yet): the connect fails, the client gets 503 UF. */
export const REFUSE: Addr = Object.freeze({ address: '/nonexistent/nodemesh-relay-refused', port: 0 });

export type Opener = (route: RelayRoute) => Promise<Duplex>;

const keyOf = (clientIp: string, t: Addr): string => `${clientIp}|${t.address}:${t.port}`;

export class RelaySet {
  private readonly relays = new Map<string, { server: net.Server; addr: Addr }>();
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodemesh-relay-'));
  private seq = 0;
  private syncing: Promise<void> = Promise.resolve();

  constructor(private readonly open: Opener) {
    fs.chmodSync(this.dir, 0o700);
  }

  /** Starts relays for new routes and closes the ones no longer wanted; calls run one after another. */
  sync(routes: readonly RelayRoute[]): Promise<void> {
    this.syncing = this.syncing.then(() => this.syncNow(routes));
    return this.syncing;
  }

  private async syncNow(routes: readonly RelayRoute[]): Promise<void> {
    const want = new Map(routes.map((r) => [keyOf(r.client.address, r.target), r]));
    for (const [k, r] of this.relays) {
      if (!want.has(k)) {
        this.relays.delete(k);
        r.server.close();
      }
    }
    await Promise.all(
      [...want].filter(([k]) => !this.relays.has(k)).map(async ([k, route]) => {
        const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => this.accept(route, sock));
        const file = path.join(this.dir, `${++this.seq}.sock`);
        await new Promise<void>((resolve, reject) => server.listen(file, resolve).once('error', reject));
        // Accept errors (EMFILE...) after listening must not become an uncaught 'error'.
        server.on('error', (e) => log.warn({ err: e, file }, 'relay error'));
        this.relays.set(k, { server, addr: { address: file, port: 0 } });
      }),
    );
  }

  lookup(clientIp: string, target: Addr): Addr | undefined {
    return this.relays.get(keyOf(clientIp, target))?.addr;
  }

  private accept(route: RelayRoute, sock: net.Socket): void {
    sock.on('error', () => undefined);
    this.open(route).then(
      (stream) => {
        sock.resume();
        void splice(stream as http2.Http2Stream, sock);
      },
      (e: unknown) => {
        log.warn({ err: e, target: route.target, identity: route.identity }, 'tunnel open failed');
        abort(sock);
      },
    );
  }

  close(): void {
    for (const r of this.relays.values()) r.server.close();
    this.relays.clear();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
