// A try's events on their way to the call that made the try: passed on only while that try is the
// call's current one, each under the call's guard (a throw costs that request only).
import type { AttemptEvents, AttemptFailure, Attempt } from './attempt';
import type { HeaderList } from './types';

/** What a try reports to: the call (call.ts), seen only through what this file needs. */
export interface TryOwner {
  readonly finished: boolean;
  readonly attempt: Attempt | undefined;
  readonly body: { drained(): void } | undefined;
  /** The try became a byte tunnel (a 101 to an upgrade). */
  readonly tunnel: { upDrain(): void } | undefined;
  onResponse(status: number, headers: HeaderList, endStream: boolean): void;
  onData(chunk: Buffer): void;
  onInterim(status: number, headers: HeaderList): void;
  onEnd(trailers: HeaderList | undefined): void;
  onUpgrade(headers: HeaderList): void;
  onFailure(f: AttemptFailure): void;
  bug(err: unknown): void;
}

/**
 * One try's events, passed on to its call only while that try is the call's current one and the call
 * is not finished (a try replaced or cancelled says nothing more). One object per try, no closures.
 */
export class TryEvents implements AttemptEvents {
  attempt: Attempt | undefined;

  constructor(private readonly call: TryOwner) {}

  private mine(): boolean {
    return this.attempt !== undefined && !this.call.finished && this.call.attempt === this.attempt;
  }

  onResponse(status: number, headers: HeaderList, endStream: boolean): void {
    if (!this.mine()) return;
    try {
      this.call.onResponse(status, headers, endStream);
    } catch (err) {
      this.call.bug(err);
    }
  }

  onData(chunk: Buffer): void {
    if (!this.mine()) return;
    try {
      this.call.onData(chunk);
    } catch (err) {
      this.call.bug(err);
    }
  }

  onEnd(trailers: HeaderList | undefined): void {
    if (!this.mine()) return;
    try {
      this.call.onEnd(trailers);
    } catch (err) {
      this.call.bug(err);
    }
  }

  onUpgrade(headers: HeaderList): void {
    if (!this.mine()) return;
    try {
      this.call.onUpgrade(headers);
    } catch (err) {
      this.call.bug(err);
    }
  }

  onInterim(status: number, headers: HeaderList): void {
    if (!this.mine()) return;
    try {
      this.call.onInterim(status, headers);
    } catch (err) {
      this.call.bug(err);
    }
  }

  onFailure(f: AttemptFailure): void {
    if (!this.mine()) return;
    try {
      this.call.onFailure(f);
    } catch (err) {
      this.call.bug(err);
    }
  }

  onDrain(): void {
    if (!this.mine()) return;
    if (this.call.tunnel !== undefined) this.call.tunnel.upDrain();
    else this.call.body!.drained();
  }
}
