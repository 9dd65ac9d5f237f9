// Per-session HTTP/2 abuse accounting on top of what nghttp2 enforces itself (flood of unanswered
// control frames, CONTINUATION floods, invalid frames): client stream resets (rapid reset,
// CVE-2023-44487) by rate and by share of the streams opened, and PING / SETTINGS frames by rate,
// which nghttp2 only catches when their acknowledgements pile up unsent. Pure: the clock is passed in.

export interface GuardLimits {
  /** Client resets of unfinished streams within windowMs. */
  readonly maxResets: number;
  /** Past this many resets, more resets than half the streams opened is abuse (Envoy's premature-reset rule). */
  readonly resetFloor: number;
  /** Only resets of streams younger than this count (a long call cancelled is not abuse), as in Envoy. */
  readonly prematureMs: number;
  readonly maxPings: number;
  readonly maxSettings: number;
  readonly windowMs: number;
}

export const DEFAULT_GUARD: GuardLimits = Object.freeze({ maxResets: 500, resetFloor: 100, prematureMs: 1_000, maxPings: 1_000, maxSettings: 100, windowMs: 10_000 });

export type Abuse = 'rapid_reset' | 'ping_flood' | 'settings_flood';

/**
 * Events within a sliding window, approximated with two fixed buckets (the previous bucket's count
 * weighted by how much of it the window still covers): constant memory per counter.
 */
export class WindowCounter {
  private start = -Infinity;
  private current = 0;
  private previous = 0;

  constructor(private readonly windowMs: number) {}

  /** Counts one event at NOW; returns the estimated count within the window ending at NOW. */
  hit(now: number): number {
    const elapsed = now - this.start;
    if (elapsed >= 2 * this.windowMs) {
      this.start = now;
      this.previous = 0;
      this.current = 0;
    } else if (elapsed >= this.windowMs) {
      this.start += this.windowMs;
      this.previous = this.current;
      this.current = 0;
    }
    this.current++;
    const overlap = 1 - (now - this.start) / this.windowMs;
    return this.current + this.previous * Math.max(0, overlap);
  }
}

export class SessionGuard {
  private opened = 0;
  private resets = 0;
  private readonly resetRate: WindowCounter;
  private readonly pingRate: WindowCounter;
  private readonly settingsRate: WindowCounter;

  constructor(private readonly limits: GuardLimits = DEFAULT_GUARD) {
    this.resetRate = new WindowCounter(limits.windowMs);
    this.pingRate = new WindowCounter(limits.windowMs);
    this.settingsRate = new WindowCounter(limits.windowMs);
  }

  streamOpened(): void {
    this.opened++;
  }

  /** The client reset a stream opened at OPENEDAT before its response completed. */
  streamReset(now: number, openedAt: number): Abuse | undefined {
    if (now - openedAt >= this.limits.prematureMs) return undefined;
    this.resets++;
    if (this.resetRate.hit(now) > this.limits.maxResets) return 'rapid_reset';
    if (this.resets >= this.limits.resetFloor && this.resets * 2 > this.opened) return 'rapid_reset';
    return undefined;
  }

  ping(now: number): Abuse | undefined {
    return this.pingRate.hit(now) > this.limits.maxPings ? 'ping_flood' : undefined;
  }

  settings(now: number): Abuse | undefined {
    return this.settingsRate.hit(now) > this.limits.maxSettings ? 'settings_flood' : undefined;
  }
}
