// The HTTP/2 try: one stream on a pooled upstream connection (H2Pool). A stream the peer's GOAWAY left
// unprocessed (above its last stream id) or refused (REFUSED_STREAM) is opened again on another
// connection when nothing of the request is lost by it (no body, or none sent yet); otherwise it fails
// as unprocessed, which the call may resend. So an upstream's GOAWAY (nginx's keepalive_requests) does
// not fail requests.
import type { Addr } from '../../capture/types';
import type { HeaderList } from '../../codec/fields';
import { E } from '../../codec/h2/constants';
import type { H2Stream, H2StreamListener } from '../../conn/h2socket';
import type { Attempt, AttemptEvents, AttemptOptions, FailureKind, UpstreamHead } from '../attempt';
import { errorCode } from '../failure';
import type { H2Lease, H2Pool, H2RequestOptions } from './pool';

/** Times a refused stream is opened again before the refusal reaches the call. */
const MAX_REOPEN = 3;

/** The flat [name, value, ...] request head. */
export function flatHeaders(head: UpstreamHead, scheme = 'http'): string[] {
  if (head.flat !== undefined) return head.flat(scheme);
  const out = [':method', head.method, ':scheme', scheme, ':authority', head.authority, ':path', head.path];
  for (const [k, v] of head.headers) out.push(k, v);
  return out;
}

/** Response fields as pairs, pseudo-headers dropped. */
function pairs(list: readonly string[]): HeaderList {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < list.length; i += 2) if (list[i]!.charCodeAt(0) !== 58) out.push([list[i]!, list[i + 1]!]);
  return out;
}

/** Pool options without any DestinationRule setting, shared (the common case allocates none). */
const PLAIN_END: H2RequestOptions = Object.freeze({ endStream: true });
const PLAIN_BODY: H2RequestOptions = Object.freeze({ endStream: false });

function poolOptions(endStream: boolean, opts: AttemptOptions, localAddress: string | undefined): H2RequestOptions {
  if (opts.connectTimeoutMs === undefined && opts.maxRequestsPerConnection === undefined && localAddress === undefined && opts.tls === undefined) {
    return endStream ? PLAIN_END : PLAIN_BODY;
  }
  return {
    endStream,
    ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
    ...(opts.maxRequestsPerConnection !== undefined ? { maxRequestsPerSession: opts.maxRequestsPerConnection } : {}),
    ...(localAddress !== undefined ? { localAddress } : {}),
    ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
  };
}

/** The stream's events, passed to the try (its own abort() is the Attempt's). */
class TryEvents implements H2StreamListener {
  constructor(private readonly t: H2Try) {}
  headers(list: string[], endStream: boolean, trailers: boolean): void {
    this.t.onHeaders(list, endStream, trailers);
  }
  data(data: Buffer, endStream: boolean): void {
    this.t.onData(data, endStream);
  }
  abort(why: 'reset' | 'refused' | 'closed', code: number, local: boolean): void {
    this.t.onAbort(why, code, local);
  }
  drain(): void {
    this.t.onDrain();
  }
}

export class H2Try implements Attempt {
  live = true;
  gotHead = false;
  private trailerList: HeaderList | undefined;
  private lease: H2Lease;
  private readonly head: string[];
  private readonly popts: H2RequestOptions;
  /** Body bytes written (a refused stream that sent some fails to the call instead of reopening). */
  private sent = false;
  private reopened = 0;
  private released = false;
  private paused = false;
  private held: { data: Buffer; end: boolean }[] | undefined;
  private readonly events = new TryEvents(this);

  constructor(
    private readonly pool: H2Pool,
    private readonly key: string,
    private readonly addr: Addr,
    private readonly method: string,
    head: UpstreamHead,
    endStream: boolean,
    opts: AttemptOptions,
    readonly ev: AttemptEvents,
    localAddress: string | undefined,
  ) {
    // Over originated TLS the upstream sees https, as Envoy sends it.
    this.head = flatHeaders(head, opts.tls !== undefined ? 'https' : 'http');
    this.popts = poolOptions(endStream, opts, localAddress);
    this.lease = pool.request(key, addr, this.head, method, this.popts, this.events);
  }

  private get stream(): H2Stream {
    return this.lease.stream;
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.lease.session.release();
  }

  private fail(kind: FailureKind, code: string | undefined, message: string): void {
    this.release();
    if (!this.live) return;
    this.live = false;
    this.ev.onFailure({ kind, code, message, afterHeaders: this.gotHead, unprocessed: kind === 'refused-stream' && !this.gotHead });
  }

  // The stream's events (TryEvents)

  /** @internal */
  onHeaders(list: string[], endStream: boolean, trailers: boolean): void {
    if (!this.live) return;
    if (trailers) {
      this.trailerList = pairs(list);
      if (endStream) this.deliver(EMPTY, true);
      return;
    }
    const at = list.indexOf(':status');
    const status = at >= 0 && (at & 1) === 0 ? Number(list[at + 1]) : 0;
    if (status >= 100 && status < 200) return; // Interim responses are not passed on.
    this.gotHead = true;
    this.ev.onResponse(status, pairs(list), endStream);
    if (endStream) this.finish();
  }

  /** @internal */
  onData(data: Buffer, endStream: boolean): void {
    if (!this.live) return;
    this.deliver(data, endStream);
  }

  /** @internal */
  onAbort(why: 'reset' | 'refused' | 'closed', code: number, local: boolean): void {
    if (!this.live) return this.release();
    // A reset this side made without the try asking (a response header list past the limit).
    if (local) return this.fail('protocol', undefined, `stream reset (code ${code})`);
    const refused = why === 'refused' || (why === 'reset' && code === E.REFUSED_STREAM);
    if (refused && !this.gotHead) {
      if (!this.sent && this.reopened < MAX_REOPEN) return this.reopen();
      return this.fail('refused-stream', undefined, 'stream refused');
    }
    const s = this.lease.session;
    if (why === 'closed' && !this.gotHead && !this.lease.reused && !s.connected) {
      return this.fail('connect-failure', errorCode(s.failure), s.failure?.message ?? 'connection failed');
    }
    this.fail(why === 'closed' && s.sock.conn.closed ? 'protocol' : 'reset', undefined, `stream ${why} (code ${code})`);
  }

  /** @internal */
  onDrain(): void {
    if (this.live) this.ev.onDrain();
  }

  /** Opens the request again on another connection (the refusing one drains). */
  private reopen(): void {
    this.reopened++;
    this.release();
    this.released = false;
    this.lease = this.pool.request(this.key, this.addr, this.head, this.method, this.popts, this.events);
  }

  private deliver(data: Buffer, end: boolean): void {
    if (this.paused) {
      (this.held ??= []).push({ data, end });
      return;
    }
    if (data.length > 0) {
      this.stream.consume(data.length);
      this.ev.onData(data);
    }
    if (end) this.finish();
  }

  private finish(): void {
    if (!this.live || !this.gotHead) return;
    this.live = false;
    // The response is complete: a request body still being sent is cut short.
    if (!this.stream.localEnded) this.stream.reset(E.CANCEL);
    this.release();
    const t = this.trailerList;
    this.ev.onEnd(t !== undefined && t.length > 0 ? t : undefined);
  }

  // Attempt

  write(chunk: Buffer): boolean {
    if (!this.live) return true;
    this.sent = true;
    return this.stream.write(chunk);
  }

  /** Request trailers are not forwarded over HTTP/2 (no client we proxy sends them). */
  end(): void {
    if (this.live) this.stream.end();
  }

  abort(): void {
    if (!this.live) return;
    this.live = false;
    this.stream.reset(E.CANCEL);
    this.release();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) for (const h of held) this.deliver(h.data, h.end);
  }

  buffered(): number {
    return this.stream.sock.conn.queuedOf(this.stream.id);
  }

  localAddress(): string | null {
    return this.lease.session.localAddress();
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * A try on a stream to KEY (dialling ADDR). LOCAL_ADDRESS binds a connection it opens; such connections
 * must be pooled under their own keys (pool.ts keyWith).
 */
export function h2Attempt(
  pool: H2Pool, key: string, addr: Addr, head: UpstreamHead, endStream: boolean, opts: AttemptOptions, ev: AttemptEvents, localAddress?: string,
): Attempt {
  return new H2Try(pool, key, addr, head.method, head, endStream, opts, ev, localAddress);
}
