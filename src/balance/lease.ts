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
    if (!this.open) return NOT_EJECTED;
    this.open = false;
    this.owner.onEnd(this.target, now - this.startedAt, now);
    const ejected = this.owner.report(this.target, result, now);
    return ejected ? { ejected, passive: this.owner.outlier === undefined } : NOT_EJECTED;
  }

  /** A new try of the same endpoint (a resend that is not a retry), starting at NOW. */
  again(now: number): Lease {
    return new Lease(this.owner, this.target, this.panic, now);
  }

  /** Ends the load without judging the endpoint (the client left, the call timed out as a whole). */
  release(now: number): void {
    if (!this.open) return;
    this.open = false;
    this.owner.onEnd(this.target, now - this.startedAt, now);
  }
}
