// Connection-pool limits of one cluster: Envoy's circuit breakers as a DestinationRule connectionPool
// sets them (unset = Istio's 2^32-1, unlimited). Counters plus a FIFO of requests waiting for a
// connection; pure bookkeeping (no timers, no sockets): the executor asks, acts, and reports back.
import type { ConnectionPool } from '../config/traffic';

/** Istio's default for every unset limit: effectively none. */
export const UNLIMITED = 2 ** 32 - 1;

export interface BreakerLimits {
  /** Upstream connections of the cluster. */
  readonly maxConnections: number;
  /** Requests waiting for a connection while maxConnections are open and busy. */
  readonly maxPendingRequests: number;
  /** Requests in flight on the cluster (Istio http2MaxRequests applies to HTTP/1 too, as in Envoy). */
  readonly maxRequests: number;
  /** A connection retires after this many requests; 0 = never (Istio's unset). */
  readonly maxRequestsPerConnection: number;
  /** Retries in flight on the cluster; read by the retry logic. */
  readonly maxRetries: number;
}

export type Limit = 'connections' | 'pending' | 'requests' | 'retries';

export function limitsOf(pool: ConnectionPool | undefined): BreakerLimits {
  const lim = (v: number | undefined): number => (v === undefined || v <= 0 ? UNLIMITED : v);
  return {
    maxConnections: lim(pool?.maxConnections),
    maxPendingRequests: lim(pool?.http1MaxPendingRequests),
    maxRequests: lim(pool?.http2MaxRequests),
    maxRequestsPerConnection: pool?.maxRequestsPerConnection !== undefined && pool.maxRequestsPerConnection > 0 ? pool.maxRequestsPerConnection : 0,
    maxRetries: lim(pool?.maxRetries),
  };
}

/** A queued request; cancel() (its timeout, or the client went away) returns true if it was still queued. */
export interface Waiting {
  cancel(): boolean;
}

interface Node extends Waiting {
  readonly cb: () => void;
  prev: Node | undefined;
  next: Node | undefined;
  queued: boolean;
}

export class Breaker {
  limits: BreakerLimits;
  /** The pool this breaker was configured from (identity tells a reload apart). */
  pool: ConnectionPool | undefined;
  connections = 0;
  requests = 0;
  retries = 0;
  /** Refusals per limit (Envoy's *_overflow stats). */
  readonly overflows: Record<Limit, number> = { connections: 0, pending: 0, requests: 0, retries: 0 };
  private head: Node | undefined;
  private tail: Node | undefined;
  private waiting = 0;

  constructor(
    readonly cluster: string,
    pool: ConnectionPool | undefined,
  ) {
    this.pool = pool;
    this.limits = limitsOf(pool);
  }

  /** New limits on reload; counters and waiters carry over (they describe live connections). */
  configure(pool: ConnectionPool | undefined): void {
    this.pool = pool;
    this.limits = limitsOf(pool);
  }

  /** Requests waiting for a connection. */
  get pending(): number {
    return this.waiting;
  }

  // ---- requests ---------------------------------------------------------------------------------

  /** Admits a request (maxRequests); on 'ok' the caller must call requestDone() when it ends. */
  tryRequest(): 'ok' | 'overflow' {
    if (this.requests >= this.limits.maxRequests) {
      this.overflows.requests++;
      return 'overflow';
    }
    this.requests++;
    return 'ok';
  }

  requestDone(): void {
    if (this.requests > 0) this.requests--;
  }

  /** Admits a retry (maxRetries); on true the caller must call retryDone() when the retry ends. */
  tryRetry(): boolean {
    if (this.retries >= this.limits.maxRetries) {
      this.overflows.retries++;
      return false;
    }
    this.retries++;
    return true;
  }

  retryDone(): void {
    if (this.retries > 0) this.retries--;
  }

  // ---- connections ------------------------------------------------------------------------------

  canOpenConnection(): boolean {
    return this.connections < this.limits.maxConnections;
  }

  /**
   * For a request that found no idle connection: 'open' a new one (then connectionOpened()), wait
   * ('pending': enqueue()), or 'overflow' (the pending queue is full: Envoy answers 503 UO).
   */
  connectDecision(): 'open' | 'pending' | 'overflow' {
    if (this.canOpenConnection()) return 'open';
    this.overflows.connections++;
    if (this.waiting < this.limits.maxPendingRequests) return 'pending';
    this.overflows.pending++;
    return 'overflow';
  }

  connectionOpened(): void {
    this.connections++;
  }

  /** A connection closed; when that frees room for a new one, the oldest waiter is woken to open it. */
  connectionClosed(): boolean {
    if (this.connections > 0) this.connections--;
    return this.canOpenConnection() ? this.wake() : false;
  }

  /**
   * A connection became idle (put it back in the idle pool first): the oldest waiter is woken to take
   * it. Returns true when a waiter was woken.
   */
  connectionReleased(): boolean {
    return this.wake();
  }

  /** Whether a connection that has served `served` requests should now retire. */
  shouldRetire(served: number): boolean {
    const max = this.limits.maxRequestsPerConnection;
    return max > 0 && served >= max;
  }

  // ---- the pending FIFO -------------------------------------------------------------------------

  /**
   * Queues a request for a connection; `cb` runs when one may be available (it then takes an idle
   * connection or opens one; finding neither, it re-queues with front = true to keep its turn).
   * Returns undefined when maxPendingRequests are already waiting (overflow).
   */
  enqueue(cb: () => void, front = false): Waiting | undefined {
    if (this.waiting >= this.limits.maxPendingRequests) {
      this.overflows.pending++;
      return undefined;
    }
    const node: Node = {
      cb,
      prev: undefined,
      next: undefined,
      queued: true,
      cancel: () => this.unlink(node),
    };
    if (front) {
      node.next = this.head;
      if (this.head !== undefined) this.head.prev = node;
      else this.tail = node;
      this.head = node;
    } else {
      node.prev = this.tail;
      if (this.tail !== undefined) this.tail.next = node;
      else this.head = node;
      this.tail = node;
    }
    this.waiting++;
    return node;
  }

  private unlink(node: Node): boolean {
    if (!node.queued) return false;
    node.queued = false;
    if (node.prev !== undefined) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next !== undefined) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = undefined;
    this.waiting--;
    return true;
  }

  private wake(): boolean {
    const node = this.head;
    if (node === undefined) return false;
    this.unlink(node);
    node.cb();
    return true;
  }
}

/** One breaker per cluster name, reconfigured in place on reload so live counters survive. */
export class Breakers {
  private readonly byCluster = new Map<string, Breaker>();

  breakerFor(cluster: string, pool: ConnectionPool | undefined): Breaker {
    let b = this.byCluster.get(cluster);
    if (b === undefined) {
      b = new Breaker(cluster, pool);
      this.byCluster.set(cluster, b);
    } else if (b.pool !== pool) b.configure(pool);
    return b;
  }

  get(cluster: string): Breaker | undefined {
    return this.byCluster.get(cluster);
  }

  /** Drops the breakers of clusters `live` rejects (after a reload). */
  retain(live: (cluster: string) => boolean): void {
    for (const name of this.byCluster.keys()) if (!live(name)) this.byCluster.delete(name);
  }

  get size(): number {
    return this.byCluster.size;
  }
}
