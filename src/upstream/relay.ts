// Entry points into the mesh tunnel for the outbound side: one Unix socket per (client workload,
// endpoint) in use, in a directory only the agent can open (0700; TCP on loopback would let any process of a
// hostNetwork node borrow a workload's identity). The HTTP pool and the TCP proxy dial a relay exactly
// as they dial an endpoint, and the relay carries each connection over an HBONE stream. The cost is one
// local hop; what it buys is that the HTTP/1 and TCP transports never handle TLS or HTTP/2.
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

const keyOf = (r: RelayRoute): string => `${r.identity}|${r.client.address}|${r.target.address}:${r.target.port}`;

/** A relay nobody used for this long is closed (it is made again, at once, when needed). */
const IDLE_MS = 5 * 60_000;

interface Relay {
  readonly server: net.Server;
  readonly addr: Addr;
  readonly route: RelayRoute;
  active: number;
  lastUsed: number;
}

/**
 * The relay directory is named `nodemesh-relay-<pid namespace>-<pid>-XXXXXX`, so that a new agent can
 * remove those of agents that died without closing (SIGKILL): same pid namespace, pid no longer alive.
 * Other names (other pid namespaces sharing the directory, older versions) are left alone. Pure.
 */
export function staleRelayDirs(names: readonly string[], pidNs: string, alive: (pid: number) => boolean): string[] {
  return names.filter((n) => {
    const m = /^nodemesh-relay-(\d+)-(\d+)-[A-Za-z0-9]{6}$/.exec(n);
    return m !== null && m[1] === pidNs && !alive(Number(m[2]));
  });
}

/** Whether a process of this pid namespace is alive (EPERM: alive, not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function makeRelayDir(): string {
  const tmp = os.tmpdir();
  let pidNs = '0';
  try {
    pidNs = /\[(\d+)\]/.exec(fs.readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
    for (const n of staleRelayDirs(fs.readdirSync(tmp), pidNs, pidAlive)) fs.rmSync(path.join(tmp, n), { recursive: true, force: true });
  } catch (e) {
    log.debug({ err: e }, 'stale relay directories not swept');
  }
  return fs.mkdtempSync(path.join(tmp, `nodemesh-relay-${pidNs}-${process.pid}-`));
}

/**
 * Relays are made on first use, not ahead for every (client, endpoint) pair: a cluster has far more
 * endpoints than a node's pods ever talk to. Binding a Unix socket is synchronous, so the relay is
 * listening before the dial that asked for it; idle ones are closed after IDLE_MS.
 */
export class RelaySet {
  private readonly relays = new Map<string, Relay>();
  private readonly dir = makeRelayDir();
  private seq = 0;
  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly open: Opener) {
    fs.chmodSync(this.dir, 0o700);
    this.sweep = setInterval(() => this.closeIdle(Date.now() - IDLE_MS), 60_000);
    this.sweep.unref();
  }

  /** The relay for ROUTE, made now if there is none; undefined if it cannot be made (logged). */
  ensure(route: RelayRoute): Addr | undefined {
    const k = keyOf(route);
    const have = this.relays.get(k);
    if (have) {
      have.lastUsed = Date.now();
      return have.addr;
    }
    const file = path.join(this.dir, `${++this.seq}.sock`);
    const relay: Relay = {
      server: net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => this.accept(relay, sock)),
      addr: { address: file, port: 0 },
      route,
      active: 0,
      lastUsed: Date.now(),
    };
    // Accept errors (EMFILE...) after listening must not become an uncaught 'error'.
    relay.server.on('error', (e) => {
      log.warn({ err: e, file }, 'relay error');
      if (this.relays.get(k) === relay) this.relays.delete(k);
      relay.server.close();
    });
    try {
      relay.server.listen(file);
    } catch (e) {
      log.warn({ err: e, file }, 'relay could not listen');
      return undefined;
    }
    this.relays.set(k, relay);
    return relay.addr;
  }

  /** Closes the relays whose route is no longer wanted (connections through them carry on). */
  retain(keep: (route: RelayRoute) => boolean): void {
    for (const [k, r] of this.relays) {
      if (keep(r.route)) continue;
      this.relays.delete(k);
      r.server.close();
    }
  }

  get size(): number {
    return this.relays.size;
  }

  /** Closes relays unused since BEFORE (ms since the epoch) with no connection open. */
  closeIdle(before: number): void {
    this.retain((route) => {
      const r = this.relays.get(keyOf(route));
      return r === undefined || r.active > 0 || r.lastUsed >= before;
    });
  }

  private accept(relay: Relay, sock: net.Socket): void {
    const route = relay.route;
    relay.active++;
    relay.lastUsed = Date.now();
    sock.once('close', () => {
      relay.active--;
      relay.lastUsed = Date.now();
    });
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
    clearInterval(this.sweep);
    for (const r of this.relays.values()) r.server.close();
    this.relays.clear();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
