// What the L7 engine is built from, and the same with defaults filled in. The listener passes what it
// already owns (metrics, balancers, timeouts, the current service index and router, its HTTP/1.1
// keep-alive pool and its deadline clock); the engine makes the upstream pools it is not given and
// closes only those.
import type { Addr } from '../capture/types';
import type { BalancerSet } from '../balance/set';
import { Deadlines, tickFor } from '../conn/deadlines';
import type { Timeouts } from '../conn/timeouts';
import type { SharedRateLimiter } from '../policy/sharedratelimit';
import type { RetryBudgetOptions } from '../route/retry';
import type { AccessLog } from '../telemetry/accesslog';
import type { Metrics } from '../telemetry/metrics';
import type { Tracing } from '../telemetry/tracing';
import { H2Pool } from '../upstream/h2/pool';
import { UpstreamPool } from '../upstream/h1/pool';
import type { ServiceLookup } from '../conn/context';

/** What the engine asks of a rate limiter. */
export type RateLimiter = Pick<SharedRateLimiter, 'takeAll'>;

export interface EngineDeps {
  readonly metrics: Metrics;
  readonly accessLog: AccessLog;
  readonly timeouts: Timeouts;
  readonly balancers: BalancerSet;
  /** Current service state and its router (swapped together on reload). */
  readonly index: () => ServiceLookup;
  /** One limiter for the agent (shared by its workers) keeps buckets across reloads. */
  readonly rateLimiter: RateLimiter;
  /** Mesh tunnel relay to dial instead of an endpoint, for this client (as OutboundDeps.dial). */
  readonly dial?: (client: Addr, target: Addr) => Addr | undefined;
  /** [0, 1): routing draws, fault and mirror percentages, backoff jitter, hash cookies. */
  readonly random?: () => number;
  /** Monotonic ms for durations and rate limits; performance.now by default. */
  readonly now?: () => number;
  /** Envoy's retry budget per cluster (default 20% of active requests, at least 3). */
  readonly retryBudget?: RetryBudgetOptions;
  /** Request body kept for retries; a longer body is not retried (default 64 KiB). */
  readonly maxReplayBytes?: number;
  /** Bytes a mirror copy may lag behind before it is dropped (default 256 KiB). */
  readonly mirrorBufferBytes?: number;
  /** HTTP/1.1 keep-alive connections (the listener's pool, shared); default: the engine's own. */
  readonly pool?: UpstreamPool;
  readonly h2?: H2Pool;
  /**
   * Local address every upstream connection of this engine binds to (HTTP/1.1 and HTTP/2), e.g. the
   * delivery address in front of local pods. Its connections are pooled apart from unbound ones.
   */
  readonly localAddress?: string;
  /**
   * The coarse clock (conn/deadlines.ts) that bounds requests by the listener's default request
   * timeout without a timer each; default: the engine's own. A VirtualService timeout keeps a timer.
   */
  readonly deadlines?: Deadlines;
  /** Trace propagation and spans; default: the process's (telemetry/tracing.ts currentTracing), read per request. */
  readonly tracing?: Tracing;
}

/** EngineDeps with every default applied. */
export interface EngineParts extends Required<Omit<EngineDeps, 'dial' | 'retryBudget' | 'localAddress' | 'tracing'>> {
  readonly tracing: Tracing | undefined;
  readonly dial: EngineDeps['dial'];
  readonly retryBudget: RetryBudgetOptions;
  readonly localAddress: string | undefined;
  /** The pools the engine made itself (and closes); given ones belong to their owner. */
  readonly owned: readonly { close(): void }[];
}

export const DEFAULT_MAX_REPLAY = 64 * 1024;
export const DEFAULT_MIRROR_BUFFER = 256 * 1024;

export function resolveDeps(d: EngineDeps): EngineParts {
  const t = d.timeouts;
  const owned: { close(): void }[] = [];
  let deadlines = d.deadlines;
  if (deadlines === undefined) {
    const own = (deadlines = new Deadlines(tickFor(t)));
    owned.push(own);
  }
  let pool = d.pool;
  if (pool === undefined) {
    // The engine's clock sweeps its own pool's idle connections (a shared pool is swept by its owner's).
    const own = (pool = new UpstreamPool({ idleMs: t.upstreamIdleMs, connectTimeoutMs: t.connectMs }, deadlines));
    owned.push(own);
  }
  const h2 = d.h2 ?? new H2Pool({ connectTimeoutMs: t.connectMs, idleTimeoutMs: t.upstreamIdleMs });
  if (d.h2 === undefined) owned.push(h2);
  return {
    ...d,
    dial: d.dial,
    random: d.random ?? Math.random,
    now: d.now ?? (() => performance.now()),
    retryBudget: d.retryBudget ?? {},
    maxReplayBytes: d.maxReplayBytes ?? DEFAULT_MAX_REPLAY,
    mirrorBufferBytes: d.mirrorBufferBytes ?? DEFAULT_MIRROR_BUFFER,
    localAddress: d.localAddress,
    tracing: d.tracing,
    pool,
    h2,
    deadlines,
    owned,
  };
}
