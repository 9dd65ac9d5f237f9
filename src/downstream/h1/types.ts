// What an HTTP/1 request exchange and the client connection it answers on see of each other: the
// connection (http1.ts) implements Downstream, a request (h1engine.ts, exchange.ts) implements
// H1Exchange. Kept apart from both so neither imports the other.
import type { Addr } from '../../capture/types';
import type { BalancerSet } from '../../balance/set';
import type { Deadlines } from '../../conn/deadlines';
import type { Timeouts } from '../../conn/timeouts';
import type { ConnContext, ServiceLookup } from '../../conn/context';
import type { AccessLog } from '../../telemetry/accesslog';
import type { Metrics } from '../../telemetry/metrics';
import type { UpstreamPool } from '../../upstream/h1/pool';
import type { L7Handler } from '../../proxy/types';
import type { Head } from '../../codec/h1head';
import type { Duplex } from 'node:stream';

export interface Http1Deps {
  readonly metrics: Metrics;
  readonly balancers: BalancerSet;
  readonly timeouts: Timeouts;
  readonly accessLog: AccessLog;
  readonly pool: UpstreamPool;
  readonly deadlines: Deadlines;
  readonly index: () => ServiceLookup;
  /** True while the listener drains: responses carry "connection: close". */
  readonly draining: () => boolean;
  /** Mesh tunnel relay to dial instead of the endpoint, for this client (see OutboundDeps.dial). */
  readonly dial?: (client: Addr, target: Addr) => Addr | undefined;
  /** Runs every request (src/proxy). */
  readonly engine: L7Handler;
  /**
   * Requests are not routed here: the destination side of the tunnel, whose engine authorizes each
   * request and delivers it to the pod the source agent already chose (routing it again would be wrong).
   * Otherwise the route is drawn on the parsed head before the request is handed on (cheaper than on
   * the request's field lists).
   */
  readonly noRouting?: boolean;
}

/** One request on a connection (request.ts). */
export interface H1Exchange {
  readonly head: Head;
  readonly reqDone: boolean;
  readonly connectAt: number;
  readonly requestAt: number;
  readonly bodyAt: number;
  /** Takes the bytes after the head (buf[off, len)); returns the offset consumed up to, -1 when it gave up. */
  start(buf: Buffer, off: number): number;
  feed(buf: Buffer, off: number): number;
  expire(now: number): void;
  clientGone(): void;
  downstreamDrained(): void;
}

/** What an Exchange needs from the client connection it answers on. */
export interface Downstream {
  readonly ctx: ConnContext;
  readonly deps: Http1Deps;
  write(data: Buffer | string): boolean;
  pause(reason: number): void;
  resume(reason: number): void;
  /** Drops the connection (a reset for the client). */
  reset(): void;
  /** Recomputes the connection's deadline after an exchange changed one of its own. */
  rearm(): void;
  exchangeDone(ex: H1Exchange, keepAlive: boolean, now: number): void;
  /**
   * EX switched protocols: the connection stops reading HTTP and hands its stream over (bytes the client
   * sent after the request head are read first). Undefined when the connection is already closing.
   */
  takeOver(ex: H1Exchange): Duplex | undefined;
  /** Something threw while handling this connection: drop it. */
  bug(err: unknown): void;
}
