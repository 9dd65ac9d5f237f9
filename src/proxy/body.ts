// The request body between the client and the tries: read with backpressure into the current try,
// kept for replay while a retry may still need it (up to a bound; past it the request is not retried),
// and copied to mirrors, which never slow the client down (a mirror that falls behind drops out).
// Nothing is read before the first try is attached, so a locally answered request leaves its body unread.
import type { Readable } from 'node:stream';
import type { HeaderList } from './types';

/** Where body bytes go: a try, or a mirror. */
export interface BodyTarget {
  write(chunk: Buffer): boolean;
  end(trailers?: HeaderList): void;
}

/** A mirror's copy: write() returning false means it fell behind and is dropped. */
export interface BodyTap {
  feed(chunk: Buffer): boolean;
  finish(trailers: HeaderList | undefined): void;
  /** The client's body broke off: the copy cannot be completed. */
  abandon(): void;
}

export interface BodyEvents {
  /** The client's body ended (all of it was read). */
  ended(): void;
  /** The body stream failed or closed before its end: the client went away. */
  broken(): void;
}

export class BodyReader {
  /** Body bytes received (istio_request_bytes). */
  bytes = 0;
  ended = false;
  broken = false;
  /** Every byte read so far is kept (the body is replayable); the chunks, once there are any. */
  private replaying = true;
  private replay: Buffer[] | undefined;
  private replayBytes = 0;
  private target: BodyTarget | undefined;
  private waiting = false;
  private taps: BodyTap[] = NO_TAPS;
  private started = false;
  /** The stream's listeners, made when reading starts (a bodyless request never makes them). */
  private listeners: Listeners | undefined;

  constructor(
    /** The request (its body stream is only asked for when the body is not known to be empty). */
    private readonly req: { readonly body: Readable },
    private readonly trailers: () => HeaderList | undefined,
    /** Replay bound; past it no retry is possible. */
    private readonly maxReplay: number,
    private readonly events: BodyEvents,
    /**
     * The body is known to be empty and needs no reading (an HTTP/2 HEADERS frame with END_STREAM):
     * it ends when the first try is attached, without listeners or a turn of the stream machinery.
     */
    private readonly empty = false,
  ) {}

  private get stream(): Readable {
    return this.req.body;
  }

  /** True while every byte read so far is kept (a new try can be sent the whole body). */
  get replayable(): boolean {
    return this.replaying;
  }

  /** No retry will follow: stop keeping the body. */
  dropReplay(): void {
    this.replaying = false;
    this.replay = undefined;
    this.replayBytes = 0;
  }

  addTap(tap: BodyTap): void {
    if (this.started && this.bytes > 0) return tap.abandon();
    if (this.taps === NO_TAPS) this.taps = [tap];
    else this.taps.push(tap);
  }

  /** Sends the body to a new try: what was kept, then the rest as it comes. Needs `replayable`. */
  attach(t: BodyTarget): void {
    this.target = t;
    this.waiting = false;
    if (this.replay !== undefined) {
      for (const c of this.replay) {
        if (this.target !== t) return;
        t.write(c);
      }
    }
    if (this.ended) return t.end(this.trailers());
    if (this.empty) {
      this.started = true;
      return this.onEnd();
    }
    this.start();
    this.stream.resume();
  }

  /** The current try is over: stop reading until the next one is attached. */
  detach(): void {
    this.target = undefined;
    if (!this.ended && !this.broken) this.stream.pause();
  }

  /** The try took its fill (write returned false) and now takes more. */
  drained(): void {
    if (this.waiting && this.target !== undefined) {
      this.waiting = false;
      this.stream.resume();
    }
  }

  /** The call ended: read no more, release everything. */
  close(): void {
    this.target = undefined;
    this.dropReplay();
    for (const t of this.taps) if (!this.ended) t.abandon();
    this.taps = NO_TAPS;
    const l = this.listeners;
    if (l !== undefined) {
      this.stream.removeListener('data', l.data);
      this.stream.removeListener('end', l.end);
    }
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    const l: Listeners = (this.listeners = {
      data: (chunk) => this.onData(chunk),
      end: () => this.onEnd(),
      error: () => this.onBroken(),
      close: () => this.onClose(),
    });
    const b = this.stream;
    b.on('data', l.data);
    b.once('end', l.end);
    b.once('error', l.error);
    b.once('close', l.close);
  }

  private onData(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.replaying) {
      this.replayBytes += chunk.length;
      if (this.replayBytes > this.maxReplay) this.dropReplay();
      else (this.replay ??= []).push(chunk);
    }
    if (this.taps.length > 0) this.taps = this.taps.filter((t) => t.feed(chunk));
    const t = this.target;
    if (t === undefined) {
      this.stream.pause();
      return;
    }
    if (!t.write(chunk)) {
      this.waiting = true;
      this.stream.pause();
    }
  }

  private onEnd(): void {
    this.ended = true;
    const trailers = this.trailers();
    for (const t of this.taps) t.finish(trailers);
    this.taps = NO_TAPS;
    this.target?.end(trailers);
    this.events.ended();
  }

  private onBroken(): void {
    if (this.ended || this.broken) return;
    this.broken = true;
    for (const t of this.taps) t.abandon();
    this.taps = NO_TAPS;
    this.events.broken();
  }

  private onClose(): void {
    if (!this.ended) this.onBroken();
  }
}

interface Listeners {
  readonly data: (chunk: Buffer) => void;
  readonly end: () => void;
  readonly error: () => void;
  readonly close: () => void;
}

/** No mirror copies (shared, never written: addTap makes a list of its own). */
const NO_TAPS: BodyTap[] = [];
