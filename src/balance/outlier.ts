// Outlier detection for one cluster (service, subset, port), Envoy's consecutive-errors detectors as
// configured by a DestinationRule: consecutive 5xx and consecutive gateway errors eject an endpoint
// for baseEjectionTime × (its ejection multiplier), within maxEjectionPercent. Pure: time passed in.
import type { OutlierDetection } from '../config/traffic';

/**
 * What happened to one request or connection: an HTTP status, or a local-origin failure. Local
 * failures count as gateway errors (503; a timeout as 504), as in Envoy without
 * split_external_local_origin_errors. 'success' (and any status below 500) resets both counters.
 */
export type OutlierResult = number | 'success' | 'connect-failure' | 'reset' | 'timeout';

/** The metric's reason label. */
export type EjectionReason = '5xx' | 'gateway';

export interface Ejection {
  readonly key: string;
  readonly reason: EjectionReason;
  /** Ejected until this time (same clock as `now`). */
  readonly until: number;
  /** The multiplier used: the duration is baseEjectionTime × this, capped. */
  readonly multiplier: number;
}

/** Envoy's max_ejection_time default; the cap is max(this, baseEjectionTime). */
export const MAX_EJECTION_MS = 300_000;
/** Istio's consecutive5xxErrors default when outlierDetection is set but the field is not. */
export const DEFAULT_CONSECUTIVE_5XX = 5;

interface HostState {
  c5xx: number;
  cGateway: number;
  /** Ejected while now < until; also the time the current/last ejection ends (decay counts from it). */
  until: number;
  /** Ejection multiplier before decay (Envoy's eject time backoff). */
  multiplier: number;
}

function statusOf(r: OutlierResult): number {
  if (typeof r === 'number') return r;
  if (r === 'success') return 200;
  return r === 'timeout' ? 504 : 503;
}

export class OutlierDetector {
  private readonly hosts = new Map<string, HostState>();
  /** Latest `until` ever set: when now is past it, nothing is ejected (a fast test per pick). */
  private latestUntil = -Infinity;

  constructor(private config: OutlierDetection) {}

  get settings(): OutlierDetection {
    return this.config;
  }

  /** New settings on reload; counters and ejections carry over. */
  configure(config: OutlierDetection): void {
    this.config = config;
  }

  /** The cluster's endpoints (the maxEjectionPercent denominator); state of removed ones is dropped. */
  setHosts(keys: readonly string[]): void {
    const live = new Set(keys);
    for (const k of this.hosts.keys()) if (!live.has(k)) this.hosts.delete(k);
    for (const k of keys) if (!this.hosts.has(k)) this.hosts.set(k, { c5xx: 0, cGateway: 0, until: -Infinity, multiplier: 0 });
  }

  get hostCount(): number {
    return this.hosts.size;
  }

  isEjected(key: string, now: number): boolean {
    if (now >= this.latestUntil) return false;
    const h = this.hosts.get(key);
    return h !== undefined && now < h.until;
  }

  /** False when no endpoint can be ejected at `now` (lets the balancer skip per-endpoint checks). */
  anyEjected(now: number): boolean {
    return now < this.latestUntil;
  }

  ejectedCount(now: number): number {
    if (now >= this.latestUntil) return 0;
    let c = 0;
    for (const h of this.hosts.values()) if (now < h.until) c++;
    return c;
  }

  /** Milliseconds of ejection left (0 when not ejected). */
  remaining(key: string, now: number): number {
    const h = this.hosts.get(key);
    return h === undefined ? 0 : Math.max(0, h.until - now);
  }

  /**
   * The multiplier the next ejection starts from: it decays by one for each full interval the
   * endpoint has spent back in service (Envoy decrements it on each interval sweep).
   */
  multiplier(key: string, now: number): number {
    const h = this.hosts.get(key);
    if (h === undefined) return 0;
    if (now < h.until || h.multiplier === 0) return h.multiplier;
    const steps = Math.floor((now - h.until) / Math.max(1, this.config.intervalMs));
    return Math.max(0, h.multiplier - steps);
  }

  /** Records a result; returns the ejection it caused, if any. Unknown endpoints are ignored. */
  report(key: string, result: OutlierResult, now: number): Ejection | undefined {
    const h = this.hosts.get(key);
    if (h === undefined) return undefined;
    const status = statusOf(result);
    if (status < 500) {
      h.c5xx = 0;
      h.cGateway = 0;
      return undefined;
    }
    const cfg = this.config;
    const t5xx = cfg.consecutive5xxErrors ?? DEFAULT_CONSECUTIVE_5XX;
    const tGateway = cfg.consecutiveGatewayErrors ?? 0;
    // Envoy: a non-gateway 5xx breaks a run of gateway errors; any 5xx extends the 5xx run.
    if (status === 502 || status === 503 || status === 504) h.cGateway++;
    else h.cGateway = 0;
    h.c5xx++;
    // Gateway errors are checked first, as in Envoy; the counter that fired restarts either way.
    let reason: EjectionReason | undefined;
    if (tGateway > 0 && h.cGateway >= tGateway) {
      h.cGateway = 0;
      reason = 'gateway';
    } else if (t5xx > 0 && h.c5xx >= t5xx) {
      h.c5xx = 0;
      reason = '5xx';
    }
    if (reason === undefined || now < h.until) return undefined;
    return this.eject(key, h, reason, now);
  }

  /**
   * An ejection another worker decided: this endpoint is out for REMAINING_MS from NOW, within this
   * detector's own maxEjectionPercent. Returns whether it applied.
   */
  adopt(key: string, remainingMs: number, multiplier: number, now: number): boolean {
    const h = this.hosts.get(key);
    if (h === undefined || now + remainingMs <= h.until) return false;
    const total = this.hosts.size;
    if (now >= h.until && (this.ejectedCount(now) * 100) / total >= this.config.maxEjectionPercent) return false;
    h.until = now + remainingMs;
    h.multiplier = Math.max(h.multiplier, multiplier);
    h.c5xx = 0;
    h.cGateway = 0;
    if (h.until > this.latestUntil) this.latestUntil = h.until;
    return true;
  }

  /**
   * Envoy's check: eject while ejected / total × 100 < maxEjectionPercent. With nothing ejected that
   * always allows one (2 endpoints at 10%: the first goes, 0% < 10%; the second not, 50% ≥ 10%).
   */
  private eject(key: string, h: HostState, reason: EjectionReason, now: number): Ejection | undefined {
    const cfg = this.config;
    const total = this.hosts.size;
    if (total === 0 || (this.ejectedCount(now) * 100) / total >= cfg.maxEjectionPercent) return undefined;
    const base = Math.max(0, cfg.baseEjectionTimeMs);
    const cap = Math.max(MAX_EJECTION_MS, base);
    let m = this.multiplier(key, now);
    // Envoy stops growing the multiplier one step past the cap, so decay starts from there.
    if (m * base < cap + base && m < 1_000_000) m++;
    h.multiplier = m;
    h.until = now + Math.min(base * m, cap);
    if (h.until > this.latestUntil) this.latestUntil = h.until;
    return { key, reason, until: h.until, multiplier: m };
  }
}
