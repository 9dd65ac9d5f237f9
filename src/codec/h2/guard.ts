// Abuse guards for one HTTP/2 connection, counted per sliding window: peer stream resets (rapid reset,
// CVE-2023-44487), PING and SETTINGS floods, empty DATA frames (and other zero-payload frames that cost
// work but carry nothing). Header block size and CONTINUATION floods are bounded by the frame reader.
// Pure: the clock is passed in.

export interface GuardLimits {
  /** Peer resets of streams it opened, within windowMs. */
  readonly maxResets: number;
  /** Past this many resets, resets of more than half the streams opened is abuse (Envoy's rule). */
  readonly resetFloor: number;
  /** Only resets of streams younger than this count (a long call cancelled is not abuse), as in Envoy. */
  readonly prematureMs: number;
  readonly maxPings: number;
  readonly maxSettings: number;
  /** DATA frames without payload and without END_STREAM. */
  readonly maxEmptyData: number;
  readonly windowMs: number;
}

export const DEFAULT_LIMITS: GuardLimits = Object.freeze({
  maxResets: 500,
  resetFloor: 100,
  prematureMs: 1_000,
  maxPings: 1_000,
  maxSettings: 100,
  maxEmptyData: 1_000,
  windowMs: 10_000,
});

export type Abuse = 'rapid_reset' | 'ping_flood' | 'settings_flood' | 'empty_frames';

/** Events within a sliding window, approximated with two fixed buckets: constant memory per counter. */
export class RateCounter {
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
    return this.current + this.previous * Math.max(0, 1 - (now - this.start) / this.windowMs);
  }
}

export class Guard {
  private opened = 0;
  private resetCount = 0;
  private readonly resets: RateCounter;
  private readonly pings: RateCounter;
  private readonly settingsRate: RateCounter;
  private readonly empty: RateCounter;

  constructor(readonly limits: GuardLimits = DEFAULT_LIMITS) {
    this.resets = new RateCounter(limits.windowMs);
    this.pings = new RateCounter(limits.windowMs);
    this.settingsRate = new RateCounter(limits.windowMs);
    this.empty = new RateCounter(limits.windowMs);
  }

  streamOpened(): void {
    this.opened++;
  }

  /** The peer reset a stream it had opened at OPENEDAT, before this side finished it. */
  reset(now: number, openedAt = now): Abuse | undefined {
    if (now - openedAt >= this.limits.prematureMs) return undefined;
    this.resetCount++;
    if (this.resets.hit(now) > this.limits.maxResets) return 'rapid_reset';
    if (this.resetCount >= this.limits.resetFloor && this.resetCount * 2 > this.opened) return 'rapid_reset';
    return undefined;
  }

  ping(now: number): Abuse | undefined {
    return this.pings.hit(now) > this.limits.maxPings ? 'ping_flood' : undefined;
  }

  settings(now: number): Abuse | undefined {
    return this.settingsRate.hit(now) > this.limits.maxSettings ? 'settings_flood' : undefined;
  }

  emptyFrame(now: number): Abuse | undefined {
    return this.empty.hit(now) > this.limits.maxEmptyData ? 'empty_frames' : undefined;
  }
}
