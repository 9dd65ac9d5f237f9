// Keep-alive connections to upstream endpoints over raw sockets: an idle stack per endpoint
// ("address:port"), LIFO so a few hot connections carry the load and the rest idle out. Each
// connection has one fixed set of socket listeners for its whole life that forward to the current
// owner (the exchange using it), so taking and returning a connection adds or removes no listener.
// Reads use node's `onread` into one shared buffer: no allocation and no stream machinery per read;
// owners get a transient view and must copy whatever they keep or forward.
import type * as net from 'node:net';
import { ALPN_HTTP1, dial } from '../dial';
import type { UpstreamTls } from '../tls';
import type { Addr } from '../../capture/types';
import type { Deadlines } from '../../conn/deadlines';
import { HeadParser } from '../../codec/h1parse';
import { logger } from '../../log';

const log = logger('upstream');

/** What the connection's current owner (an HTTP/1.1 try, h1/attempt.ts) hears from it. */
export interface UpstreamOwner {
  onUpConnect(): void;
  /** `chunk` is only valid during the call (it views the shared read buffer). */
  onUpData(chunk: Buffer): void;
  /** The server closed its side (FIN). */
  onUpEnd(): void;
  /** The connection failed or closed without a FIN first; `err` is undefined for a plain close. */
  onUpFail(err: Error | undefined): void;
  onUpDrain(): void;
  /** Handling this connection's data threw: the connection is closed; end the exchange. */
  onUpBug(err: unknown): void;
}

export interface PoolOptions {
  /** Idle pooled connection lifetime; a server's "Keep-Alive: timeout=N" hint shortens it. */
  readonly idleMs: number;
  /** Idle connections kept per endpoint. */
  readonly maxIdlePerEndpoint?: number;
  /** Connect timeout of a try that opens a connection, unless its cluster sets one. 0 or unset: none. */
  readonly connectTimeoutMs?: number;
}

export class UpstreamConn {
  owner: UpstreamOwner | undefined;
  connected = false;
  /** Exchanges carried so far; > 0 means the connection came from the pool (it may have gone stale). */
  uses = 0;
  idleSince = 0;
  idleMs: number;
  /** Response parser, reused for every exchange on this connection. */
  readonly parser = new HeadParser(false);
  private dead = false;

  constructor(
    private readonly pool: UpstreamPool,
    readonly key: string,
    readonly socket: net.Socket,
    /** 'secureConnect' when the connection originates TLS (dial.ts). */
    ready: 'connect' | 'secureConnect' = 'connect',
  ) {
    this.idleMs = pool.idleMs;
    socket.on(ready, this.onConnect);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
  }

  get alive(): boolean {
    return !this.dead;
  }

  /** Applies a server's Keep-Alive timeout hint (seconds), leaving a second of margin like node's Agent. */
  hint(seconds: number): void {
    if (seconds > 0) this.idleMs = Math.min(this.pool.idleMs, Math.max(0, seconds * 1000 - 1000));
  }

  destroy(): void {
    this.owner = undefined;
    this.dead = true;
    this.socket.destroy();
  }

  private readonly onConnect = (): void => {
    this.connected = true;
    this.owner?.onUpConnect();
  };

  /** @internal the onread callback. */
  read(n: number, buf: Buffer): boolean {
    const o = this.owner;
    // Bytes on an idle connection answer nothing we sent: the connection is out of sync.
    if (o === undefined) this.destroy();
    else {
      try {
        o.onUpData(buf.subarray(0, n));
      } catch (err) {
        // A bug must cost this exchange, never the process.
        log.error({ err }, 'response handling failed');
        this.destroy();
        o.onUpBug(err);
      }
    }
    return true;
  }

  private readonly onEnd = (): void => {
    this.dead = true;
    if (this.owner !== undefined) this.owner.onUpEnd();
    else this.socket.destroy();
  };

  private readonly onError = (err: Error): void => {
    this.dead = true;
    const o = this.owner;
    this.owner = undefined;
    o?.onUpFail(err);
  };

  private readonly onClose = (): void => {
    this.dead = true;
    this.pool.forget(this);
    const o = this.owner;
    this.owner = undefined;
    o?.onUpFail(undefined);
  };

  private readonly onDrain = (): void => {
    this.owner?.onUpDrain();
  };
}

/** The pool key of connections to `key` bound to LOCAL_ADDRESS (unbound ones keep the plain key). */
export function keyWith(key: string, localAddress: string | undefined): string {
  return localAddress === undefined ? key : `${key}@${localAddress}`;
}

/** Shared by every upstream socket: a read is handled synchronously before the next one can land. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class UpstreamPool {
  readonly idleMs: number;
  readonly connectMs: number;
  private readonly maxIdle: number;
  private readonly idle = new Map<string, UpstreamConn[]>();
  private readonly all = new Set<UpstreamConn>();
  private closed = false;

  constructor(opts: PoolOptions, deadlines?: Deadlines) {
    this.idleMs = opts.idleMs;
    this.connectMs = opts.connectTimeoutMs ?? 0;
    this.maxIdle = opts.maxIdlePerEndpoint ?? 64;
    deadlines?.every((now) => this.sweep(now));
  }

  /** The most recently returned live idle connection to `key`, if any. */
  acquire(key: string): UpstreamConn | undefined {
    const stack = this.idle.get(key);
    if (stack === undefined) return undefined;
    while (stack.length > 0) {
      const c = stack.pop()!;
      if (c.alive) return c;
    }
    return undefined;
  }

  /**
   * A new connection to `addr` (connecting; the owner hears 'connect' or the failure). LOCAL_ADDRESS
   * binds its local end (net.connect's localAddress; ignored for a Unix socket): connections are pooled
   * by `key` alone, so a caller that binds must use keys no unbound caller uses (keyWith does). TLS
   * originates TLS (dial.ts): its connections must be pooled under keys of their own as well. HALF_OPEN:
   * the server's FIN does not end our side (a connection that is never given back: an upgrade's).
   */
  connect(addr: Addr, key: string, localAddress?: string, tls?: UpstreamTls, halfOpen = false): UpstreamConn {
    let c: UpstreamConn | undefined;
    const { socket, ready } = dial(addr, {
      // An upgraded connection (a WebSocket tunnel) keeps writing after the server's FIN.
      ...(halfOpen ? { allowHalfOpen: true } : {}),
      ...(localAddress !== undefined ? { localAddress } : {}),
      ...(tls !== undefined ? { tls, alpn: ALPN_HTTP1 } : {}),
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => c!.read(n, buf as Buffer) },
    });
    c = new UpstreamConn(this, key, socket, ready);
    this.all.add(c);
    if (this.closed) c.destroy();
    return c;
  }

  /** Returns a connection whose exchange completed cleanly; beyond the idle bound it is closed. */
  release(c: UpstreamConn, now: number): void {
    c.owner = undefined;
    if (this.closed || !c.alive || c.idleMs === 0) return c.destroy();
    let stack = this.idle.get(c.key);
    if (stack === undefined) this.idle.set(c.key, (stack = []));
    if (stack.length >= this.maxIdle) return c.destroy();
    if (c.socket.isPaused()) c.socket.resume();
    c.idleSince = now;
    stack.push(c);
  }

  /** @internal the connection closed. */
  forget(c: UpstreamConn): void {
    this.all.delete(c);
  }

  /** Closes connections idle past their lifetime and drops dead ones (oldest sit at the bottom). */
  sweep(now: number): void {
    for (const [key, stack] of this.idle) {
      let keep = 0;
      for (const c of stack) {
        if (c.alive && now - c.idleSince < c.idleMs) stack[keep++] = c;
        else if (c.alive) c.destroy();
      }
      stack.length = keep;
      if (keep === 0) this.idle.delete(key);
    }
  }

  /** Idle connections per endpoint (stats and tests). */
  idleCount(key?: string): number {
    if (key !== undefined) return this.idle.get(key)?.filter((c) => c.alive).length ?? 0;
    let n = 0;
    for (const s of this.idle.values()) n += s.filter((c) => c.alive).length;
    return n;
  }

  /** Closes pooled and in-use upstream connections. */
  close(): void {
    this.closed = true;
    for (const c of this.all) c.destroy();
    this.all.clear();
    this.idle.clear();
  }
}
