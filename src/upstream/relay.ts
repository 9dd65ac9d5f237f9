// Entry points into the mesh tunnel for the outbound fast path: one loopback listener per (source
// identity, endpoint). The HTTP pool and the TCP proxy dial a relay exactly as they dial an endpoint
// (so pooling stays per identity pair), and the relay carries each connection over an HBONE stream.
// The cost is one loopback hop; what it buys is that the fast path never handles TLS or HTTP/2.
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type * as http2 from 'node:http2';
import type { Addr } from '../capture/types';
import { logger } from '../log';
import { splice } from '../tunnel/splice';

const log = logger('relay');

export interface RelayRoute {
  /** SPIFFE id of the client workload. */
  readonly identity: string;
  /** The endpoint as the balancer knows it (pod ip:port). */
  readonly target: Addr;
  /** One representative client address for `forwarded: for=` (the workload's IP). */
  readonly client: Addr;
}

export type Opener = (route: RelayRoute) => Promise<Duplex>;

const keyOf = (identity: string, t: Addr): string => `${identity}|${t.address}:${t.port}`;

export class RelaySet {
  private readonly relays = new Map<string, { server: net.Server; addr: Addr }>();

  constructor(private readonly open: Opener) {}

  /** Starts relays for new routes and closes the ones no longer wanted. */
  async sync(routes: readonly RelayRoute[]): Promise<void> {
    const want = new Map(routes.map((r) => [keyOf(r.identity, r.target), r]));
    for (const [k, r] of this.relays) {
      if (!want.has(k)) {
        this.relays.delete(k);
        r.server.close();
      }
    }
    await Promise.all(
      [...want].filter(([k]) => !this.relays.has(k)).map(async ([k, route]) => {
        const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (sock) => this.accept(route, sock));
        await new Promise<void>((resolve, reject) => server.listen(0, '127.0.0.1', resolve).once('error', reject));
        const a = server.address() as net.AddressInfo;
        this.relays.set(k, { server, addr: { address: '127.0.0.1', port: a.port } });
      }),
    );
  }

  lookup(identity: string, target: Addr): Addr | undefined {
    return this.relays.get(keyOf(identity, target))?.addr;
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
        sock.resetAndDestroy();
      },
    );
  }

  close(): void {
    for (const r of this.relays.values()) r.server.close();
    this.relays.clear();
  }
}
