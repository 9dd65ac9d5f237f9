// Passive health: an endpoint whose connect fails sits out a cooldown that doubles on repeat (Envoy's
// outlier ejection, simplified). State is keyed by "address:port" so it survives config reloads and is
// shared by every service that routes to the same endpoint. Time is passed in, so this is pure.

export interface HealthOptions {
  /** First cooldown after a failure. */
  readonly baseMs: number;
  /** Upper bound of the doubling cooldown. */
  readonly maxMs: number;
}

export const DEFAULT_HEALTH: HealthOptions = { baseMs: 5_000, maxMs: 60_000 };

interface Entry {
  /** Unhealthy until this time (ms, same clock as `now`). */
  until: number;
  /** Consecutive ejections; the next cooldown is baseMs * 2^streak. */
  streak: number;
}

/** Above this many entries, expired ones are swept on the next failure (endpoints that went away). */
const SWEEP_AT = 1024;

export class HealthTable {
  private readonly entries = new Map<string, Entry>();
  /** Endpoints an active health check (HealthCheck) found unhealthy: out until a check finds them healthy. */
  private readonly down = new Set<string>();
  private readonly opts: HealthOptions;
  /** Told of each ejection this table decides (proxy workers share them: workers/pool.ts). */
  onEject: ((key: string, remainingMs: number, streak: number) => void) | undefined;

  constructor(opts: Partial<HealthOptions> = {}) {
    this.opts = { ...DEFAULT_HEALTH, ...opts };
  }

  /** No endpoint has ever failed (or all recovered): lets pickers skip per-endpoint checks. */
  get empty(): boolean {
    return this.entries.size === 0 && this.down.size === 0;
  }

  /** Some endpoint is out by an active health check. */
  get anyDown(): boolean {
    return this.down.size !== 0;
  }

  /** Out by an active health check (whatever outlier detection or passive health say). */
  isDown(key: string): boolean {
    return this.down.size !== 0 && this.down.has(key);
  }

  /** An active health check's verdict; returns true when it changed the endpoint's state. */
  setChecked(key: string, healthy: boolean): boolean {
    if (healthy) return this.down.delete(key);
    if (this.down.has(key)) return false;
    this.down.add(key);
    return true;
  }

  isHealthy(key: string, now: number): boolean {
    if (this.down.size !== 0 && this.down.has(key)) return false;
    const e = this.entries.get(key);
    return e === undefined || now >= e.until;
  }

  /**
   * Records a connect failure. Returns true when this failure ejected the endpoint (it was healthy);
   * failures of requests already in flight during a cooldown neither extend nor double it.
   */
  markFailure(key: string, now: number): boolean {
    const e = this.entries.get(key);
    if (e !== undefined && now < e.until) return false;
    if (this.entries.size >= SWEEP_AT) this.sweep(now);
    const { baseMs, maxMs } = this.opts;
    let streak = 0;
    // A failure long after the last cooldown ended starts over instead of doubling.
    if (e !== undefined && now - e.until < maxMs) streak = e.streak + 1;
    const cooldown = Math.min(maxMs, baseMs * 2 ** Math.min(streak, 30));
    this.entries.set(key, { until: now + cooldown, streak });
    this.onEject?.(key, cooldown, streak);
    return true;
  }

  /** An ejection another worker decided: out for REMAINING_MS from NOW unless already out longer. */
  adopt(key: string, remainingMs: number, streak: number, now: number): void {
    const e = this.entries.get(key);
    const until = now + remainingMs;
    if (e !== undefined && e.until >= until) return;
    if (this.entries.size >= SWEEP_AT) this.sweep(now);
    this.entries.set(key, { until, streak: Math.max(streak, e?.streak ?? 0) });
  }

  /** A successful exchange clears the record, so the next failure starts at baseMs again. */
  markSuccess(key: string): void {
    if (this.entries.size !== 0) this.entries.delete(key);
  }

  /** Milliseconds of cooldown left (0 when healthy); for stats and tests. */
  remaining(key: string, now: number): number {
    const e = this.entries.get(key);
    return e === undefined ? 0 : Math.max(0, e.until - now);
  }

  private sweep(now: number): void {
    for (const [key, e] of this.entries) {
      if (now - e.until >= this.opts.maxMs) this.entries.delete(key);
    }
  }
}
