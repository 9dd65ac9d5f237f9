// A balancer pick as a handle that reports its own outcome (as grpc-js's picker result does): the
// caller says once how the try went, and the handle does the load, latency and outlier bookkeeping of
// its endpoint. Callers never pair start/report/end by hand, so no path can forget one of them.
import type { OutlierResult } from './outlier';
import type { Target } from './target';

/** What a lease needs from its cluster balancer (cluster.ts implements it). */
export interface LeaseOwner {
  onStart(target: Target): void;
  onEnd(target: Target, latencyMs: number, now?: number): void;
  report(target: Target, result: OutlierResult, now?: number): boolean;
  /** The cluster judges endpoints by outlierDetection (else by the shared passive health). */
  readonly outlier: unknown;
}

/** How a settled try went, for the caller's metrics. */
export interface Settled {
  /** This result ejected the endpoint. */
  readonly ejected: boolean;
  /** The ejection was passive health's (no outlierDetection): nodemesh_endpoint_ejections_total. */
  readonly passive: boolean;
}

const NOT_EJECTED: Settled = Object.freeze({ ejected: false, passive: false });

export class Lease {
  private open = true;
  private judged = false;
  /** When the outcome was judged (the response head): the latency the balancer learns. */
  private judgedAt = 0;

  constructor(
    private readonly owner: LeaseOwner,
    readonly target: Target,
    /** Picked among all endpoints because too few were healthy. */
    readonly panic: boolean,
    /** When the try started (the owner's clock, ms). */
    private readonly startedAt: number,
  ) {
    owner.onStart(target);
  }

  /** The try is still out (neither settled nor released). */
  get active(): boolean {
    return this.open;
  }

  /**
   * The try's outcome, once: a response status, 'success' (TCP connected), or a failure. Ends the
   * endpoint's load with the try's latency and judges the endpoint. Later calls do nothing.
   */
  settle(result: OutlierResult, now: number): Settled {
    const s = this.judge(result, now);
    this.release(now);
    return s;
  }

  /**
   * Judges the endpoint by RESULT, once, while the request stays active on it: a response head whose
   * body is still to come (least request counts a download until its end). The latency the balancer
   * learns is the time to this judgement.
   */
  judge(result: OutlierResult, now: number): Settled {
    if (!this.open || this.judged) return NOT_EJECTED;
    this.judged = true;
    this.judgedAt = now;
    const ejected = this.owner.report(this.target, result, now);
    return ejected ? { ejected, passive: this.owner.outlier === undefined } : NOT_EJECTED;
  }

  /** A new try of the same endpoint (a resend that is not a retry), starting at NOW. */
  again(now: number): Lease {
    return new Lease(this.owner, this.target, this.panic, now);
  }

  /** Ends the load, once; unjudged, the endpoint is not judged at all (the client left, a resend). */
  release(now: number): void {
    if (!this.open) return;
    this.open = false;
    this.owner.onEnd(this.target, (this.judged ? this.judgedAt : now) - this.startedAt, now);
  }
}
