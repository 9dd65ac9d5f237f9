// The reference model of local rate limiting (nodemesh LocalRateLimit), for tests: Envoy's token bucket,
// one per (limit, key value), on an injected clock, in plain maps. Keyed buckets are bounded per limit
// (least recently used evicted), and a reload keeps the buckets of limits that did not change. The
// agent runs SharedRateLimiter (src/policy/sharedratelimit.ts), which must decide as this does.
import type { LocalRateLimit } from '../../src/config/traffic';
import type { RequestView } from '../../src/route/types';
import { MAX_BUCKETS_PER_LIMIT, type RateDecision, type RateDecisionAll } from '../../src/policy/sharedratelimit';

const OK: { readonly ok: true } = Object.freeze({ ok: true });

interface Bucket {
  tokens: number;
  /** Time of the last fill boundary (ms): fills happen every fillIntervalMs after it. */
  lastFill: number;
}

interface LimitState {
  /** The limit's parameters; a different value means the limit changed and its buckets start over. */
  readonly sig: string;
  /** In least-recently-used order (Map iteration order; a use moves the key to the end). */
  readonly buckets: Map<string, Bucket>;
}

interface Identity {
  /** namespace/name */
  readonly id: string;
  readonly sig: string;
  /** perKey.header, lower-cased as RequestView.header wants it. */
  readonly header: string | undefined;
}

/** Limits are frozen config objects: their identity strings are worked out once, not per request. */
const identities = new WeakMap<LocalRateLimit, Identity>();

function identity(l: LocalRateLimit): Identity {
  let v = identities.get(l);
  if (v === undefined) {
    const key = l.perKey === undefined ? '' : 'header' in l.perKey ? `h:${l.perKey.header}` : 'p';
    const sig = `${l.maxTokens}|${l.tokensPerFill}|${l.fillIntervalMs}|${key}|${l.service}|${l.port ?? ''}|${l.route ?? ''}`;
    const header = l.perKey !== undefined && 'header' in l.perKey ? l.perKey.header.toLowerCase() : undefined;
    v = { id: `${l.namespace}/${l.name}`, sig, header };
    identities.set(l, v);
  }
  return v;
}

export class LocalRateLimiter {
  private readonly limits = new Map<string, LimitState>();
  private readonly maxBuckets: number;

  constructor(opts: { readonly maxBucketsPerLimit?: number } = {}) {
    this.maxBuckets = Math.max(1, opts.maxBucketsPerLimit ?? MAX_BUCKETS_PER_LIMIT);
  }

  /** Takes one token from LIMIT's bucket for REQ's key; refuses with the seconds until the next fill. */
  take(limit: LocalRateLimit, req: RequestView, nowMs: number): RateDecision {
    const b = this.bucket(limit, req, nowMs);
    if (b.tokens >= 1) {
      b.tokens--;
      return OK;
    }
    return { ok: false, retryAfterS: retryAfter(limit, b, nowMs) };
  }

  /**
   * Takes a token from every limit in LIMITS, or from none: the first limit without a token refuses the
   * request (with its retry-after), and a refused request consumes nothing.
   */
  takeAll(limits: readonly LocalRateLimit[], req: RequestView, nowMs: number): RateDecisionAll {
    if (limits.length === 0) return OK;
    if (limits.length === 1) {
      const d = this.take(limits[0], req, nowMs);
      return d.ok ? OK : { ...d, limit: limits[0] };
    }
    for (const l of limits) {
      const b = this.bucket(l, req, nowMs);
      if (b.tokens < 1) return { ok: false, retryAfterS: retryAfter(l, b, nowMs), limit: l };
    }
    for (const l of limits) this.bucket(l, req, nowMs).tokens--;
    return OK;
  }

  /** Drops the buckets of limits not in LIMITS or whose parameters changed; call on reload. */
  retain(limits: readonly LocalRateLimit[]): void {
    const keep = new Map<string, string>();
    for (const l of limits) keep.set(identity(l).id, identity(l).sig);
    for (const [id, state] of this.limits) if (keep.get(id) !== state.sig) this.limits.delete(id);
  }

  /** Buckets currently held for LIMIT (for tests and gauges). */
  bucketCount(limit: LocalRateLimit): number {
    return this.limits.get(identity(limit).id)?.buckets.size ?? 0;
  }

  /** The bucket for REQ's key, refilled up to NOW_MS; created full. */
  private bucket(limit: LocalRateLimit, req: RequestView, nowMs: number): Bucket {
    const ident = identity(limit);
    const { id, sig } = ident;
    let state = this.limits.get(id);
    if (state === undefined || state.sig !== sig) {
      state = { sig, buckets: new Map() };
      this.limits.set(id, state);
    }
    const key = limit.perKey === undefined ? '' : ident.header !== undefined ? (req.header(ident.header) ?? '') : req.sourcePrincipal;
    const buckets = state.buckets;
    let b = buckets.get(key);
    if (b === undefined) {
      b = { tokens: limit.maxTokens, lastFill: nowMs };
      if (buckets.size >= this.maxBuckets) buckets.delete(buckets.keys().next().value!);
      buckets.set(key, b);
      return b;
    }
    if (limit.perKey !== undefined && buckets.size > 1) {
      buckets.delete(key); // move to the most recently used end
      buckets.set(key, b);
    }
    refill(limit, b, nowMs);
    return b;
  }
}

/** Adds tokensPerFill for every whole fill interval since the last fill, up to maxTokens. */
function refill(limit: LocalRateLimit, b: Bucket, nowMs: number): void {
  const interval = Math.max(1, limit.fillIntervalMs);
  const fills = Math.floor((nowMs - b.lastFill) / interval);
  if (fills <= 0) return;
  b.tokens = Math.min(limit.maxTokens, b.tokens + fills * limit.tokensPerFill);
  b.lastFill += fills * interval;
}

/** Whole seconds until the next fill, at least 1 (the Retry-After value). */
function retryAfter(limit: LocalRateLimit, b: Bucket, nowMs: number): number {
  const wait = b.lastFill + Math.max(1, limit.fillIntervalMs) - nowMs;
  return Math.max(1, Math.ceil(wait / 1000));
}
