// The HTTP/1.1 try: one request on a keep-alive connection of UpstreamPool, with the connection's own
// response parser. A raw request head (UpstreamHead.raw) is copied as its bytes. The head leaves with the first body bytes when they
// come in the same turn; the body goes by Content-Length, chunked (with trailers) or not at all; the
// response is decoded by its framing and handed on as fresh copies (the pool reads into one shared
// buffer). The connection goes back to the pool only after a clean, complete exchange.
import type { Addr } from '../../capture/types';
import type { HeaderList } from '../../codec/fields';
import { ChunkedFramer } from '../../codec/h1chunked';
import { upstreamRequestHead } from '../../codec/headers';
import type { Framing, Head } from '../../codec/h1head';
import type { Attempt, AttemptEvents, AttemptOptions, FailureKind, UpstreamHead } from '../attempt';
import { CONNECT_TIMEOUT_CODE, errorCode } from '../failure';
import { chunk, finishHead, lastChunk, rawFields, requestFields, upgradeLines, withBody, type RequestFields, type RequestFraming } from './request';
import { copyOf, responseList } from './response';
import type { UpstreamConn, UpstreamOwner, UpstreamPool } from './pool';

class H1Try implements Attempt, UpstreamOwner {
  private up: UpstreamConn | undefined;
  /** The connection's socket, kept after the connection is handed back (the access log asks later). */
  private sock: UpstreamConn['socket'] | undefined;
  private live = true;
  private readonly reused: boolean;
  private readonly fields: RequestFields;
  /** Undecided (undefined) until the head is written. */
  private framing: RequestFraming | undefined;
  private reqLeft = 0;
  private reqDone = false;
  /** The request cannot leave the connection clean (a body longer than its Content-Length). */
  private spoiled = false;
  private flushing: NodeJS.Immediate | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private gotBytes = false;
  /** Status of the final response once its head arrived; 0 before. */
  private status = 0;
  private resFraming: Framing = 'none';
  private resLeft = 0;
  private chunks: ChunkedFramer | undefined;
  private keepAlive = false;
  /** The endpoint switched protocols: the connection is a byte tunnel (see AttemptEvents.onUpgrade). */
  private tunnel = false;

  constructor(
    private readonly pool: UpstreamPool,
    key: string,
    addr: Addr,
    private readonly head: UpstreamHead,
    endStream: boolean,
    private readonly opts: AttemptOptions,
    private readonly ev: AttemptEvents,
    localAddress: string | undefined,
    fresh: boolean,
  ) {
    // Validated before any connection is taken: a bad field throws with nothing to clean up. A raw
    // head was validated by the strict parser that read it and is copied as it is.
    const f = head.raw !== undefined ? rawFields(head.raw.head) : requestFields(head.method, head.path, head.authority, head.headers);
    this.fields = head.upgrade === undefined || head.raw !== undefined ? f : { ...f, text: f.text + upgradeLines(head.upgrade) };
    // An upgrade takes a fresh connection and never gives it back (it may become a tunnel).
    const upgrade = head.upgrade !== undefined;
    const up = (this.up = (fresh || upgrade ? undefined : pool.acquire(key)) ?? pool.connect(addr, key, localAddress, opts.tls, upgrade));
    this.sock = up.socket;
    this.reused = up.uses > 0;
    up.uses++;
    up.owner = this;
    up.parser.reset();
    if (!up.connected) {
      const ms = opts.connectTimeoutMs ?? pool.connectMs;
      if (ms > 0) this.connectTimer = setTimeout(() => this.connectTimedOut(ms), ms);
    }
    if (endStream) this.send(this.fields.contentLength > 0 ? 'length' : 'none', undefined);
    // Body bytes already read come within this turn: wait for it so the head leaves with them.
    else this.flushing = setImmediate(() => this.flush());
  }

  // ---- request ----------------------------------------------------------------------------------

  /** Writes the head (with DATA, framed, or the TAIL text) and returns what the socket said. */
  private send(framing: RequestFraming, data: Buffer | undefined, tail = ''): boolean {
    const raw = this.head.raw;
    // A raw head keeps the client's own framing fields: the body goes as they say.
    if (raw !== undefined) framing = raw.head.framing === 'length' ? 'length' : raw.head.framing === 'chunked' ? 'chunked' : 'none';
    this.framing = framing;
    if (this.flushing !== undefined) clearImmediate(this.flushing);
    this.flushing = undefined;
    if (framing === 'length') {
      this.reqLeft = this.fields.contentLength;
      data = data === undefined ? undefined : this.clip(data);
    }
    this.reqDone = framing === 'none' || (framing === 'length' && this.reqLeft === 0);
    if (raw !== undefined) {
      const body = framing === 'chunked' && data !== undefined && data.length > 0 ? chunk(data) : data;
      const rw = this.head.upgrade === undefined ? raw : { ...raw, extra: (raw.extra ?? '') + upgradeLines(this.head.upgrade) };
      const out = upstreamRequestHead(raw.head, rw, body, 0, body?.length ?? 0);
      return this.up!.socket.write(tail === '' ? out : Buffer.concat([out, Buffer.from(tail, 'latin1')]));
    }
    const text = finishHead(this.fields, framing, this.head.method) + tail;
    const out = framing === 'chunked' && data !== undefined && data.length > 0 ? chunk(data, text) : withBody(text, data);
    return this.up!.socket.write(out);
  }

  /** DATA cut to the Content-Length still owed (bytes past it would desynchronize the connection). */
  private clip(data: Buffer): Buffer {
    if (data.length > this.reqLeft) {
      this.spoiled = true;
      data = data.subarray(0, this.reqLeft);
    }
    this.reqLeft -= data.length;
    if (this.reqLeft === 0) this.reqDone = true;
    return data;
  }

  private flush(): void {
    this.flushing = undefined;
    if (this.live && this.framing === undefined && this.up !== undefined) this.send(this.fields.contentLength >= 0 ? 'length' : 'chunked', undefined);
  }

  write(data: Buffer): boolean {
    const up = this.up;
    if (this.tunnel) return !this.live || up === undefined || data.length === 0 || up.socket.write(data);
    if (!this.live || up === undefined || this.reqDone) return true;
    if (this.framing === undefined) return this.send(this.fields.contentLength >= 0 ? 'length' : 'chunked', data);
    if (data.length === 0) return true;
    if (this.framing === 'chunked') return up.socket.write(chunk(data));
    if (this.framing === 'length') return up.socket.write(this.clip(data));
    return true;
  }

  end(trailers?: HeaderList): void {
    const up = this.up;
    if (this.tunnel) {
      if (this.live && up !== undefined && !up.socket.writableEnded) up.socket.end();
      return;
    }
    if (!this.live || up === undefined || this.reqDone) return;
    const hasTrailers = trailers !== undefined && trailers.length > 0;
    if (this.framing === undefined) {
      // A raw head that says chunked frames its (here empty) body chunked: the last chunk must follow.
      if (this.head.raw?.head.framing === 'chunked') {
        this.send('chunked', undefined, lastChunk(trailers));
        this.reqDone = true;
      } else if (this.fields.contentLength >= 0) this.send('length', undefined);
      else if (!hasTrailers) this.send('none', undefined);
      else {
        this.send('chunked', undefined, lastChunk(trailers));
        this.reqDone = true;
      }
      return;
    }
    // A Content-Length body cut short stays incomplete (reqDone false): the connection is not reused.
    if (this.framing !== 'chunked') return;
    this.reqDone = true;
    up.socket.write(lastChunk(trailers));
  }

  // ---- response ---------------------------------------------------------------------------------

  onUpConnect(): void {
    this.clearConnect();
  }

  onUpData(data: Buffer): void {
    if (!this.live) return;
    if (this.tunnel) return this.ev.onData(copyOf(data, 0, data.length));
    this.gotBytes = true;
    let off = 0;
    if (this.status === 0) {
      off = this.readHead(data);
      if (off < 0 || !this.live) return;
    }
    this.readBody(data, off);
  }

  /** Parses heads until the final one; returns the offset after it, or -1 (more needed, or failed). */
  private readHead(data: Buffer): number {
    const up = this.up!;
    const p = up.parser;
    let off = 0;
    for (;;) {
      const r = p.execute(data, off);
      if (r === -1) return -1;
      if (r === -2) {
        const code = p.error!.code;
        this.fail('protocol', code, `upstream protocol error: ${code}`);
        return -1;
      }
      const h = p.head!;
      p.reset();
      off = r;
      if (h.status >= 200) {
        off = this.final(h, up, data, off);
        p.recycle(h);
        return off;
      }
      if (h.status === 101 && this.head.upgrade !== undefined && this.ev.onUpgrade !== undefined) {
        this.switched(h, up, data, off);
        return -1;
      }
      // 100 Continue is the proxy's own business (it answered the client itself); other interim answers
      // (103 Early Hints) go on; 101 answers an upgrade never asked for (no Upgrade field is forwarded).
      if (h.status !== 100 && h.status !== 101) this.ev.onInterim?.(h.status, responseList(h, up));
      p.recycle(h);
      if (h.status === 101) {
        this.fail('protocol', undefined, 'upstream switched protocols unasked');
        return -1;
      }
      if (off >= data.length) return -1;
    }
  }

  /** 101 to the upgrade asked for: the connection becomes a tunnel; bytes after the head are the endpoint's first. */
  private switched(h: Head, up: UpstreamConn, data: Buffer, off: number): void {
    const headers = responseList(h, up);
    up.parser.recycle(h);
    this.clearConnect();
    this.status = 101;
    this.tunnel = true;
    this.ev.onUpgrade!(headers);
    if (this.live && off < data.length) this.ev.onData(copyOf(data, off, data.length));
  }

  /** The final response head: says it, and returns the offset the body starts at (or -1: all taken). */
  private final(h: Head, up: UpstreamConn, data: Buffer, off: number): number {
    const framing: Framing = this.head.method === 'HEAD' ? 'none' : h.framing;
    const headers = responseList(h, up);
    this.resFraming = framing;
    this.keepAlive = h.keepAlive;
    this.clearConnect();
    if (framing === 'none') {
      // Nothing follows: the connection is handed back before the caller hears the head.
      this.status = h.status;
      this.complete(off < data.length);
      this.ev.onResponse(h.status, headers, true);
      return -1;
    }
    if (framing === 'length') this.resLeft = h.contentLength;
    else if (framing === 'chunked') {
      const f = (this.chunks = new ChunkedFramer(true));
      if (off < data.length) {
        // Chunks that came with the head are checked before the head is said: a response found broken
        // there is still answered (502 UPE), since nothing has gone to the client yet.
        const got: Buffer[] = [];
        const end = f.feed(data, off, data.length, (b, s, e) => {
          if (e > s) got.push(copyOf(b, s, e));
        });
        if (end < 0) {
          this.fail('protocol', 'INVALID_CHUNK', `upstream protocol error: ${f.error}`);
          return -1;
        }
        this.status = h.status;
        this.ev.onResponse(h.status, headers, false);
        for (const g of got) if (this.live) this.ev.onData(g);
        if (this.live && f.done) this.finish(end < data.length, f.trailers());
        return -1;
      }
    }
    this.status = h.status;
    this.ev.onResponse(h.status, headers, false);
    return off;
  }

  private readBody(data: Buffer, off: number): void {
    const len = data.length;
    switch (this.resFraming) {
      case 'length': {
        const end = off + Math.min(this.resLeft, len - off);
        this.resLeft -= end - off;
        if (end > off) this.ev.onData(copyOf(data, off, end));
        if (this.live && this.resLeft === 0) this.finish(end < len, undefined);
        return;
      }
      case 'chunked': {
        const f = this.chunks!;
        const end = f.feed(data, off, len, this.sink);
        if (!this.live) return;
        if (end < 0) return this.fail('protocol', 'INVALID_CHUNK', `upstream protocol error: ${f.error}`);
        if (f.done) this.finish(end < len, f.trailers());
        return;
      }
      case 'close':
        if (off < len) this.ev.onData(copyOf(data, off, len));
        return;
      case 'none':
        return;
    }
  }

  private readonly sink = (buf: Buffer, s: number, e: number): void => {
    if (this.live && e > s) this.ev.onData(copyOf(buf, s, e));
  };

  /** The response is complete: hand the connection back, then say so. */
  private finish(extra: boolean, trailers: HeaderList | undefined): void {
    this.complete(extra);
    this.ev.onEnd(trailers);
  }

  /** EXTRA: bytes followed the response (they answer nothing we sent: the connection is out of sync). */
  private complete(extra: boolean): void {
    this.live = false;
    const up = this.up;
    const max = this.opts.maxRequestsPerConnection;
    const spent = max !== undefined && max > 0 && up !== undefined && up.uses >= max;
    this.detach(!extra && this.keepAlive && this.reqDone && !this.spoiled && !this.fields.close && !spent && this.head.upgrade === undefined);
  }

  onUpEnd(): void {
    if (!this.live) return;
    // The endpoint half-closed the tunnel: the client hears it; the other direction goes on.
    if (this.tunnel) return this.ev.onEnd(undefined);
    if (this.status !== 0 && this.resFraming === 'close') return this.finish(true, undefined);
    this.lost('ECONNRESET', this.status !== 0 ? 'upstream closed mid-response' : 'upstream closed the connection');
  }

  onUpFail(err: Error | undefined): void {
    if (!this.live) return;
    const code = err === undefined ? 'ECONNRESET' : errorCode(err);
    const message = err?.message ?? 'upstream connection closed';
    if (this.up !== undefined && !this.up.connected) return this.fail('connect-failure', code, message);
    this.lost(code, message);
  }

  onUpDrain(): void {
    if (this.live && (this.tunnel || !this.reqDone)) this.ev.onDrain();
  }

  onUpBug(err: unknown): void {
    this.fail('reset', undefined, `upstream response handling failed: ${String(err)}`);
  }

  /** The connection went away after connecting: a pooled one the server had closed, if nothing came back. */
  private lost(code: string | undefined, message: string): void {
    const stale = this.status === 0 && this.reused && !this.gotBytes && (code === 'ECONNRESET' || code === 'EPIPE');
    this.fail('reset', code, message, stale);
  }

  private connectTimedOut(ms: number): void {
    this.connectTimer = undefined;
    if (this.up !== undefined && !this.up.connected) this.fail('connect-failure', CONNECT_TIMEOUT_CODE, `connect timeout after ${ms} ms`);
  }

  private fail(kind: FailureKind, code: string | undefined, message: string, unprocessed = false): void {
    if (!this.live) return;
    this.live = false;
    this.detach(false);
    this.ev.onFailure({ kind, code, message, afterHeaders: this.status !== 0, unprocessed });
  }

  /** Stops using the connection: back to the pool when REUSE, else closed. */
  private detach(reuse: boolean): void {
    this.clearConnect();
    if (this.flushing !== undefined) clearImmediate(this.flushing);
    this.flushing = undefined;
    const up = this.up;
    if (up === undefined) return;
    this.up = undefined;
    if (reuse) return this.pool.release(up, performance.now());
    // node reads the local address lazily and keeps it; after destroy() it could no longer.
    if (up.connected) void up.socket.localAddress;
    up.destroy();
  }

  private clearConnect(): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  abort(): void {
    this.live = false;
    this.detach(false);
  }

  pause(): void {
    this.up?.socket.pause();
  }

  resume(): void {
    this.up?.socket.resume();
  }

  buffered(): number {
    return this.up?.socket.writableLength ?? 0;
  }

  localAddress(): string | null {
    const s = this.sock;
    const a = s?.localAddress;
    return a !== undefined ? `${a}:${s!.localPort}` : null;
  }
}

/**
 * A try on a connection to KEY (dialling ADDR: an endpoint, or a mesh tunnel route). END_STREAM: the
 * request has no body. LOCAL_ADDRESS binds a new connection; such connections must be pooled under their
 * own keys (pool.ts keyWith). FRESH: take no pooled connection (the resend after a stale one).
 */
export function h1Attempt(
  pool: UpstreamPool, key: string, addr: Addr, head: UpstreamHead, endStream: boolean, opts: AttemptOptions, ev: AttemptEvents,
  localAddress?: string, fresh = false,
): Attempt {
  return new H1Try(pool, key, addr, head, endStream, opts, ev, localAddress, fresh);
}
