// What the end of a try leads to, decided apart from doing it (call.ts does it): the same request sent
// once more when the upstream never processed it, a retry when the route's policy, the attempts left and
// the kept body allow, or else the failure's answer (status, flag, catalog error). Pure, table-tested.
import type { RetryPolicy } from '../config/traffic';
import { shouldRetry, type AttemptOutcome } from '../route/retry';
import { classifyUpstreamError, timeoutVerdict, type FailureVerdict } from '../upstream/failure';
import type { AttemptFailure } from './attempt';

/** Outcomes without a status: shared, nothing allocated per try. */
const CONNECT_FAILURE: AttemptOutcome = Object.freeze({ kind: 'connect-failure' });
const REFUSED_STREAM: AttemptOutcome = Object.freeze({ kind: 'refused-stream' });
const RESET: AttemptOutcome = Object.freeze({ kind: 'reset' });
export const TRY_TIMEOUT: AttemptOutcome = Object.freeze({ kind: 'timeout' });

/** A malformed response head: the upstream's protocol error (Envoy's UPE). */
const UPE: FailureVerdict = Object.freeze({ error: 'UPSTREAM_PROTOCOL', flag: 'UPE', status: 502, eject: false });
/** The per-try timeout fired with no retry left: 504 UT. */
export const TRY_TIMEOUT_VERDICT: FailureVerdict = Object.freeze(timeoutVerdict(false));

/** A try's response head as a retry policy sees it; G is its grpc-status ('' when none or not gRPC). */
export function responseOutcome(status: number, g: string): AttemptOutcome {
  return g === '' ? { kind: 'response', status } : { kind: 'response', status, grpcStatus: Number(g) };
}

/** A try's failure before its response head as a retry policy sees it (a malformed response counts as a reset). */
export function failureOutcome(f: AttemptFailure): AttemptOutcome {
  return f.kind === 'connect-failure' ? CONNECT_FAILURE : f.kind === 'refused-stream' ? REFUSED_STREAM : RESET;
}

/** The answer to a failure before the response head when it is not retried. */
export function failureVerdict(f: AttemptFailure): FailureVerdict {
  return f.kind === 'protocol' ? UPE : classifyUpstreamError(f.code, f.kind === 'connect-failure' ? 'connect' : 'before-headers');
}

/** The flag of a failure mid-response: a malformed response body is the upstream's protocol error, anything else a reset. */
export function midResponseFlag(f: AttemptFailure): 'UPE' | 'UR' {
  return f.kind === 'protocol' ? 'UPE' : 'UR';
}

/**
 * Never processed (a refused stream, a pooled connection the server had closed) and nothing of a
 * response sent: once, the same endpoint again on a fresh connection or session, when the body is kept.
 * Not a retry, and nothing to judge the endpoint by. RESENT: this request was resent already. Only a
 * refused stream is certain (the peer says so); a pooled HTTP/1 connection closed under the request is
 * inferred, so a request with a body (HAS_BODY), which may not be idempotent, is not resent then.
 */
export function resendsUnprocessed(f: AttemptFailure, committed: boolean, resent: boolean, replayable: boolean, hasBody: boolean): boolean {
  return f.unprocessed && !f.afterHeaders && !committed && !resent && replayable && (f.kind === 'refused-stream' || !hasBody);
}

/**
 * 'final': the outcome stands (no policy, the policy does not retry it, or the request can no longer be
 * retried: RETRIABLE is false once a response was sent or the body is no longer kept or broke);
 * 'limit': it would be retried but RETRIES have used up the policy's attempts (counted, flags URX);
 * 'retry': retried if the budget allows.
 */
export type RetryStep = 'final' | 'limit' | 'retry';

export function retryStep(policy: RetryPolicy | undefined, outcome: AttemptOutcome, isGrpc: boolean, retriable: boolean, retries: number): RetryStep {
  if (policy === undefined || !shouldRetry(policy, outcome, isGrpc) || !retriable) return 'final';
  return retries >= policy.attempts ? 'limit' : 'retry';
}
