// VirtualService http[].retries and http[].fault: Istio's retry conditions and fault injection, with
// Envoy's defaults made explicit so the router applies exactly what a config reads as.
import { Fields } from '../fields';
import type { FaultPolicy, RetryOn, RetryPolicy } from '../traffic';
import { durationMs, percent } from './trafficfields';

export const RETRY_ON: readonly RetryOn[] = [
  '5xx', 'gateway-error', 'reset', 'connect-failure', 'refused-stream', 'retriable-4xx', 'retriable-status-codes',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
];
/** Envoy conditions nodemesh does not implement: refused by name rather than never retried on. */
const UNSUPPORTED_RETRY_ON = ['reset-before-request', 'envoy-ratelimited', 'retriable-headers', 'http3-post-connect-failure'];

/** Istio's retryOn when `retries` leaves it out. */
export const DEFAULT_RETRY_ON: readonly RetryOn[] = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'];
export const DEFAULT_RETRIABLE_STATUS_CODES: readonly number[] = [503];
/** Envoy's retry backoff: 25 ms base interval, at most 10× that. */
export const RETRY_BACKOFF_BASE_MS = 25;
export const RETRY_BACKOFF_MAX_MS = 250;
const MAX_ATTEMPTS = 100;

/** The 17 gRPC status codes by name (google.rpc.Code). */
export const GRPC_STATUS: Readonly<Record<string, number>> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

export function readRetries(r: Fields): RetryPolicy | undefined {
  const f = r.object('retries', ['attempts', 'perTryTimeout', 'retryOn'], {
    unsupported: ['retryRemoteLocalities', 'retryIgnorePreviousHosts', 'backoff'],
  });
  if (f === undefined) return undefined;
  // Istio reads a missing attempts as 0 (retries off), and then refuses every other retry field.
  const attempts = f.int('attempts', { min: 0, max: MAX_ATTEMPTS }, 'write attempts: N, the retries after the first try (Istio\'s default route retries are attempts: 2; 0 turns retries off)');
  // Istio: attempts 0 turns retries off, and then no other retry field may be set.
  const extra = attempts === 0 ? ['perTryTimeout', 'retryOn', 'retryRemoteLocalities', 'retryIgnorePreviousHosts', 'backoff'].filter((k) => f.has(k)) : [];
  for (const k of extra) f.report(k, 'has no effect with attempts: 0 (retries are off): remove it, or set attempts above 0');
  const perTryTimeoutMs = durationMs(f, 'perTryTimeout');
  const on = f.has('retryOn') ? parseRetryOn(f) : { retryOn: [...DEFAULT_RETRY_ON], codes: [...DEFAULT_RETRIABLE_STATUS_CODES] };
  if (attempts === undefined || on === undefined) return undefined;
  return {
    attempts,
    ...(perTryTimeoutMs !== undefined ? { perTryTimeoutMs } : {}),
    retryOn: on.retryOn,
    retriableStatusCodes: on.codes,
    backoffBaseMs: RETRY_BACKOFF_BASE_MS,
    backoffMaxMs: RETRY_BACKOFF_MAX_MS,
  };
}

/** Comma list of conditions; bare numbers are status codes and imply retriable-status-codes. */
function parseRetryOn(f: Fields): { retryOn: RetryOn[]; codes: number[] } | undefined {
  const s = f.string('retryOn', { required: true });
  if (s === undefined) return undefined;
  const retryOn: RetryOn[] = [];
  const codes: number[] = [];
  const add = <T>(list: T[], v: T): void => {
    if (!list.includes(v)) list.push(v);
  };
  let bad = false;
  for (const part of s.split(',').map((p) => p.trim())) {
    const known = RETRY_ON.find((c) => c === part);
    if (known !== undefined) add(retryOn, known);
    else if (/^[0-9]+$/.test(part) && Number(part) >= 100 && Number(part) <= 599) {
      add(codes, Number(part));
      add(retryOn, 'retriable-status-codes');
    } else {
      bad = true;
      const why = part === ''
        ? 'has an empty condition'
        : UNSUPPORTED_RETRY_ON.includes(part)
          ? `condition "${part}" is not supported by this nodemesh version`
          : /^[0-9]+$/.test(part)
            ? `status code ${part} is not between 100 and 599`
            : `unknown condition "${part}"`;
      f.report('retryOn', `${why} (supported: ${RETRY_ON.join(', ')}, or status codes)`);
    }
  }
  return bad ? undefined : { retryOn, codes };
}

export function readFault(r: Fields): FaultPolicy | undefined {
  const f = r.object('fault', ['delay', 'abort']);
  if (f === undefined) return undefined;
  f.oneOf(['delay', 'abort'], 'must set delay or abort');
  // Istio injects a fault into no request when percentage is left out: that reads as a fault but does
  // nothing, so it is required here.
  const d = f.object('delay', ['fixedDelay', 'percentage', 'percent'], { unsupported: ['exponentialDelay'] });
  let delay: FaultPolicy['delay'];
  if (d !== undefined) {
    const fixedDelayMs = durationMs(d, 'fixedDelay', { required: !d.has('exponentialDelay') });
    // `percent` (an integer) is Istio's deprecated form of percentage; one of them is required.
    if (d.has('percent') && d.has('percentage')) d.report('percent', 'cannot be used together with percentage (percent is the deprecated form; keep percentage)');
    const pct = d.has('percent') ? d.int('percent', { min: 0, max: 100 }) : percent(d, 'percentage', true);
    if (fixedDelayMs !== undefined && pct !== undefined) delay = { fixedDelayMs, percent: pct };
  }
  const a = f.object('abort', ['httpStatus', 'grpcStatus', 'percentage'], { unsupported: ['http2Error'] });
  let abort: FaultPolicy['abort'];
  if (a !== undefined) {
    const given = ['httpStatus', 'grpcStatus', 'http2Error'].filter((k) => a.has(k));
    if (given.length !== 1) a.sink.report(a.path, given.length === 0 ? 'must set httpStatus or grpcStatus' : 'must set only one of httpStatus, grpcStatus');
    const httpStatus = a.int('httpStatus', { min: 200, max: 599 });
    const grpcStatus = readGrpcStatus(a);
    const pct = percent(a, 'percentage', true);
    if (pct !== undefined && given.length === 1 && (httpStatus !== undefined || grpcStatus !== undefined)) {
      abort = { ...(httpStatus !== undefined ? { httpStatus } : {}), ...(grpcStatus !== undefined ? { grpcStatus } : {}), percent: pct };
    }
  }
  return { ...(delay ? { delay } : {}), ...(abort ? { abort } : {}) };
}

/** A gRPC status by name ("UNAVAILABLE", as Istio writes it) or number (0..16). */
function readGrpcStatus(a: Fields): number | undefined {
  if (!a.has('grpcStatus')) return undefined;
  const v = a.raw('grpcStatus');
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 16) return v;
  if (typeof v === 'string') {
    const byName = GRPC_STATUS[v.toUpperCase()];
    if (byName !== undefined) return byName;
    if (/^[0-9]+$/.test(v) && Number(v) <= 16) return Number(v);
  }
  a.report('grpcStatus', `must be a gRPC status name (like UNAVAILABLE) or code 0..16, got ${JSON.stringify(v)}`);
  return undefined;
}
