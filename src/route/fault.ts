// Fault injection decided per request (Istio HTTPFaultInjection as Envoy's fault filter applies it):
// the delay and the abort each apply with their own percentage, from independent draws.
import type { FaultPolicy } from '../config/traffic';

export interface FaultDecision {
  /** 0 when no delay applies. */
  readonly delayMs: number;
  /** For a gRPC status the HTTP status is 200 and the executor answers trailers-only with grpc-status. */
  readonly abort?: { readonly status: number; readonly grpcStatus?: number };
}

/**
 * What FAULT does to one request; undefined when nothing. Draws random() for the delay first, then for
 * the abort; a part that is absent, or at 0 or 100 percent, takes no draw. A gRPC status answers gRPC requests (HTTP 200 + grpc-status); an
 * HTTP status answers with that status, on gRPC requests too (the executor maps it, as Envoy does). With
 * only a gRPC status the answer is 200 + grpc-status whatever the request, as Envoy's filter sends it.
 */
export function decideFault(fault: FaultPolicy | undefined, random: () => number, isGrpc: boolean): FaultDecision | undefined {
  if (fault === undefined) return undefined;
  const delay = fault.delay !== undefined && hit(fault.delay.percent, random) ? fault.delay.fixedDelayMs : 0;
  const a = fault.abort;
  let abort: FaultDecision['abort'];
  if (a !== undefined && hit(a.percent, random)) {
    if (a.grpcStatus !== undefined && (isGrpc || a.httpStatus === undefined)) abort = { status: 200, grpcStatus: a.grpcStatus };
    else if (a.httpStatus !== undefined) abort = { status: a.httpStatus };
  }
  if (delay === 0 && abort === undefined) return undefined;
  return abort === undefined ? { delayMs: delay } : { delayMs: delay, abort };
}

/** True with probability PERCENT/100; 0 never, 100 always. */
function hit(percent: number, random: () => number): boolean {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  return random() * 100 < percent;
}
