// Retry decisions with Envoy's semantics: which attempt outcomes each retryOn condition retries, the
// jittered exponential backoff, and the per-cluster retry budget (pure counters the executor drives).
import type { RetryOn, RetryPolicy } from '../config/traffic';

/** How one try ended, as the executor saw it. */
export type AttemptOutcome =
  | { readonly kind: 'response'; readonly status: number; readonly grpcStatus?: number }
  | { readonly kind: 'connect-failure' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'refused-stream' }
  /** The per-try timeout fired (Envoy resets the try and retries it like a reset). */
  | { readonly kind: 'timeout' };

/** gRPC status codes of the gRPC retryOn conditions. */
const GRPC_CODES: Readonly<Partial<Record<RetryOn, number>>> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
};

/**
 * True when POLICY retries after OUTCOME. As Envoy: 5xx, gateway-error and reset all retry a try that got
 * no response (connect failure, reset, refused stream, per-try timeout); 5xx retries any 5xx status,
 * gateway-error 502/503/504; connect-failure and refused-stream only their own failure; retriable-4xx 409;
 * the listed retriable status codes (Istio writes them as bare numbers in retryOn); the gRPC conditions
 * the response's grpc-status, for gRPC requests. attempts 0 never retries.
 */
export function shouldRetry(policy: RetryPolicy, outcome: AttemptOutcome, isGrpc: boolean): boolean {
  if (policy.attempts <= 0) return false;
  const on = policy.retryOn;
  if (outcome.kind !== 'response') {
    if (on.includes('5xx') || on.includes('gateway-error') || on.includes('reset')) return true;
    if (outcome.kind === 'connect-failure') return on.includes('connect-failure');
    if (outcome.kind === 'refused-stream') return on.includes('refused-stream');
    return false;
  }
  const status = outcome.status;
  if (status >= 500 && status <= 599 && on.includes('5xx')) return true;
  if ((status === 502 || status === 503 || status === 504) && on.includes('gateway-error')) return true;
  if (status === 409 && on.includes('retriable-4xx')) return true;
  if (policy.retriableStatusCodes.includes(status)) return true;
  const g = outcome.grpcStatus;
  if (isGrpc && g !== undefined) {
    for (const cond of on) if (GRPC_CODES[cond] === g) return true;
  }
  return false;
}

/** Delay before retry RETRY_INDEX (0 = the first retry): full jitter over min(max, base × 2^index), as Envoy. */
export function backoffMs(policy: RetryPolicy, retryIndex: number, random: () => number): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.min(Math.max(0, retryIndex), 30));
  return random() * ceiling;
}

export interface RetryBudgetOptions {
  /** Share of active requests that may be retries at once; Envoy's default 20. */
  readonly budgetPercent?: number;
  /** Retries always allowed concurrently, whatever the budget; Envoy's default 3. */
  readonly minRetryConcurrency?: number;
  /** Circuit breaker on concurrent retries (DestinationRule connectionPool.http.maxRetries). */
  readonly maxRetries?: number;
}

/** Envoy's retry budget for one cluster: concurrent retries bounded by a share of active requests. */
export class RetryBudget {
  private readonly budgetPercent: number;
  private readonly minRetryConcurrency: number;
  private readonly maxRetries: number | undefined;
  private requests = 0;
  private retries = 0;

  constructor(opts: RetryBudgetOptions = {}) {
    this.budgetPercent = opts.budgetPercent ?? 20;
    this.minRetryConcurrency = opts.minRetryConcurrency ?? 3;
    this.maxRetries = opts.maxRetries;
  }

  get activeRequests(): number {
    return this.requests;
  }

  get activeRetries(): number {
    return this.retries;
  }

  requestStarted(): void {
    this.requests++;
  }

  requestEnded(): void {
    if (this.requests > 0) this.requests--;
  }

  /** 'ok' counts the retry as active (call retryEnded when it ends); 'limit': maxRetries reached; 'budget': over budget. */
  tryRetry(): 'ok' | 'budget' | 'limit' {
    if (this.maxRetries !== undefined && this.retries >= this.maxRetries) return 'limit';
    const allowed = Math.max(this.minRetryConcurrency, Math.floor((this.budgetPercent / 100) * this.requests));
    if (this.retries >= allowed) return 'budget';
    this.retries++;
    return 'ok';
  }

  retryEnded(): void {
    if (this.retries > 0) this.retries--;
  }
}
