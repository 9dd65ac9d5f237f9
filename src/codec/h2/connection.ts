// One HTTP/2 connection as a pure state machine (RFC 9113): bytes in → events out, calls in → frames out.
// It keeps the streams' states (§5.1), flow-control windows both ways (§5.2, §6.9), the stream limits
// (§5.1.2), SETTINGS (§6.5), PING, GOAWAY with the last stream id (§6.8) and the abuse guards. No
// sockets and no timers: the owner writes takeOutput() to the socket and passes a clock in.

import { connError, DEFAULT_SETTINGS, E, type H2Error, MAX_WINDOW, PREFACE, S, SETTING_FIELDS, type Settings, streamError, T } from './constants';
import { H2Endpoint, type H2Event } from './endpoint';
import { type Frame, FrameReader, isError } from './frames';
import { type Abuse, DEFAULT_LIMITS, Guard, type GuardLimits } from './guard';
import { HpackDecoder } from './hpack';
import { checkMessage, type MessageInfo } from './message';
import { Stream } from './stream';
import * as W from './writer';

export type { H2Event } from './endpoint';

export interface ConnectionOptions {
  readonly role: 'server' | 'client';
  /** Settings this side advertises (RFC defaults for anything not given, except the ones below). */
  readonly settings?: Partial<Settings>;
  /** Receive window of the connection as a whole (a WINDOW_UPDATE at start raises it past 65535). */
  readonly connectionWindow?: number;
  readonly limits?: Partial<GuardLimits>;
  /** Check header lists against HTTP's rules (§8); on by default. */
  readonly validate?: boolean;
  /** Return flow-control credit as soon as DATA arrives (default); else the owner calls consume(). */
  readonly autoConsume?: boolean;
  readonly maxHeaderBlock?: number;
  readonly now?: () => number;
}

const LOCAL_DEFAULTS: Partial<Settings> = { maxConcurrentStreams: 100, maxHeaderListSize: 65_536 };

export class H2Connection extends H2Endpoint {
  private readonly reader: FrameReader;
  private readonly decoder: HpackDecoder;
  private readonly guard: Guard;
  private readonly now: () => number;
  private readonly validate: boolean;
  private readonly autoConsume: boolean;
  private settingsSeen = false;
  private pendingAcks = 0;

  constructor(options: ConnectionOptions) {
    const client = options.role === 'client';
    const local = { ...DEFAULT_SETTINGS, ...LOCAL_DEFAULTS, ...(client ? { enablePush: 0 } : {}), ...options.settings };
    super(options.role, local, Math.max(65_535, Math.min(options.connectionWindow ?? 1 << 20, MAX_WINDOW)));
    this.now = options.now ?? Date.now;
    this.validate = options.validate ?? true;
    this.autoConsume = options.autoConsume ?? true;
    this.guard = new Guard({ ...DEFAULT_LIMITS, ...options.limits });
    this.reader = new FrameReader({ preface: !client, maxFrameSize: this.local.maxFrameSize, maxHeaderBlock: options.maxHeaderBlock });
    // Until the peer acknowledges a smaller table, its encoder may still use the protocol's 4096.
    const table = this.local.headerTableSize;
    this.decoder = new HpackDecoder({ maxTableSize: Math.max(table, 4096), maxHeaderListSize: this.local.maxHeaderListSize });
    if (client) this.out.push(PREFACE);
    const list: [number, number][] = [];
    for (const [id, field] of Object.entries(SETTING_FIELDS)) {
      const v = this.local[field];
      if (v !== DEFAULT_SETTINGS[field] && Number.isFinite(v)) list.push([Number(id), v]);
    }
    this.out.push(W.settings(list));
    this.pendingAcks++;
    if (this.connTarget > 65_535) {
      this.out.push(W.windowUpdate(0, this.connTarget - 65_535));
      this.recvWindow = this.connTarget;
    }
  }

  /** This side's SETTINGS are not acknowledged yet (the owner may time that out: SETTINGS_TIMEOUT). */
  get awaitingSettingsAck(): boolean {
    return this.pendingAcks > 0;
  }

  /**
   * The owner's SETTINGS_TIMEOUT ran out (§6.5.3): a connection error SETTINGS_TIMEOUT when this side's
   * SETTINGS are still unacknowledged; nothing otherwise.
   */
  settingsTimeout(): void {
    if (this.pendingAcks > 0 && !this.closed) this.fail(connError(E.SETTINGS_TIMEOUT, 'SETTINGS not acknowledged in time'));
  }

  /** Feeds received bytes; returns what happened, in order. */
  receive(chunk: Buffer): H2Event[] {
    if (this.closed) return [];
    this.reader.push(chunk);
    for (let r = this.reader.next(); r !== undefined && !this.closed; r = this.reader.next()) {
      if (isError(r)) this.fail(r);
      else this.onFrame(r);
    }
    const events = this.events;
    this.events = [];
    return events;
  }

  private onFrame(f: Frame): void {
    if (!this.settingsSeen) {
      if (f.type !== T.SETTINGS || f.ack) return this.fail(connError(E.PROTOCOL_ERROR, 'the first frame is not SETTINGS'));
      this.settingsSeen = true;
    }
    switch (f.type) {
      case T.DATA:
        return this.onData(f);
      case T.HEADERS:
        return this.onHeaders(f);
      case T.PRIORITY:
        return; // Priority signals are deprecated (§5.3.2) and ignored; the reader checked the frame.
      case T.RST_STREAM:
        return this.onReset(f.stream, f.code);
      case T.SETTINGS:
        return f.ack ? this.onSettingsAck() : this.onSettings(f.settings);
      case T.PUSH_PROMISE:
        return this.fail(connError(E.PROTOCOL_ERROR, this.role === 'server' ? 'PUSH_PROMISE from a client' : 'PUSH_PROMISE with push disabled'));
      case T.PING:
        if (f.ack) return void this.events.push({ kind: 'ping', data: Buffer.from(f.data) });
        if (this.abuse(this.guard.ping(this.now()))) return;
        this.out.push(W.ping(f.data, true));
        return;
      case T.GOAWAY:
        return this.onGoaway(f.lastStream, f.code, f.debug);
      case T.WINDOW_UPDATE:
        return this.onWindowUpdate(f.stream, f.increment);
    }
  }

  private onHeaders(f: Extract<Frame, { type: typeof T.HEADERS }>): void {
    // Decode first, always: the HPACK state is the connection's, whatever happens to the stream.
    const list = this.decoder.decode(f.block);
    if (!list) return this.fail(connError(E.COMPRESSION_ERROR, `header block: ${this.decoder.error}`));
    const id = f.stream;
    let s = this.streams.get(id);
    if (!s) {
      if (!this.isIdle(id)) return this.lateFrame(id, 'HEADERS');
      if (!this.isPeerId(id) || this.role === 'client') return this.fail(connError(E.PROTOCOL_ERROR, `HEADERS opening stream ${id}, which this peer may not open`));
      this.lastPeerStream = id;
      if (this.goawaySent >= 0) return; // Above the GOAWAY's last stream: ignored (§6.8).
      if (f.priority?.dependency === id) return this.streamFail(streamError(id, E.PROTOCOL_ERROR, 'stream depends on itself'), undefined);
      if (this.activePeer >= this.local.maxConcurrentStreams) return this.streamFail(streamError(id, E.REFUSED_STREAM, 'SETTINGS_MAX_CONCURRENT_STREAMS exceeded'), undefined);
      s = new Stream(id, false, this.peer.initialWindowSize, this.local.initialWindowSize);
      s.openedAt = this.now();
      this.streams.set(id, s);
      this.activePeer++;
      this.guard.streamOpened();
    } else if (!s.remoteOpen) {
      return this.streamFail(streamError(id, E.STREAM_CLOSED, 'HEADERS on a half-closed (remote) stream'), s);
    } else if (f.priority?.dependency === id) {
      return this.streamFail(streamError(id, E.PROTOCOL_ERROR, 'stream depends on itself'), s);
    }
    const trailers = s.gotHeaders;
    if (trailers && !f.endStream) return this.streamFail(streamError(id, E.PROTOCOL_ERROR, 'trailers without END_STREAM'), s);
    if (list.oversize) {
      this.events.push({ kind: 'oversize', stream: id });
      if (f.endStream && s.endRemote()) this.forget(s, 'closed');
      return;
    }
    let info: MessageInfo | undefined;
    if (this.validate) {
      const kind = trailers ? 'trailers' : this.role === 'server' ? 'request' : 'response';
      const checked = checkMessage(kind, list.headers);
      if (typeof checked === 'string') return this.streamFail(streamError(id, E.PROTOCOL_ERROR, `malformed message: ${checked}`), s);
      info = checked;
    }
    if (!trailers && !(info && info.status >= 100 && info.status < 200)) {
      s.gotHeaders = true;
      const noBody = s.method === 'HEAD' || info?.status === 204 || info?.status === 304;
      if (info && !noBody) s.contentLength = info.contentLength;
    }
    if (f.endStream && s.contentLength >= 0 && s.received !== s.contentLength) {
      return this.streamFail(streamError(id, E.PROTOCOL_ERROR, 'content-length does not match the data'), s);
    }
    this.events.push({ kind: 'headers', stream: id, headers: list.headers, sensitive: list.sensitive, endStream: f.endStream, trailers });
    if (f.endStream && s.endRemote()) this.forget(s, 'closed');
  }

  private onData(f: Extract<Frame, { type: typeof T.DATA }>): void {
    const id = f.stream;
    if (f.flowLength > this.recvWindow) return this.fail(connError(E.FLOW_CONTROL_ERROR, 'DATA beyond the connection window'));
    this.recvWindow -= f.flowLength;
    const s = this.streams.get(id);
    if (!s || !s.remoteOpen) {
      this.credit(undefined, f.flowLength);
      if (!s) return this.isIdle(id) ? this.fail(connError(E.PROTOCOL_ERROR, `DATA on idle stream ${id}`)) : this.lateFrame(id, 'DATA');
      return this.streamFail(streamError(id, E.STREAM_CLOSED, 'DATA on a half-closed (remote) stream'), s);
    }
    if (f.flowLength > s.recvWindow) {
      this.credit(undefined, f.flowLength);
      return this.streamFail(streamError(id, E.FLOW_CONTROL_ERROR, 'DATA beyond the stream window'), s);
    }
    s.recvWindow -= f.flowLength;
    if (f.flowLength === 0 && !f.endStream && this.abuse(this.guard.emptyFrame(this.now()))) return;
    // Padding is returned at once; the data when consumed.
    this.credit(s, this.autoConsume ? f.flowLength : f.flowLength - f.data.length);
    s.received += f.data.length;
    if (s.contentLength >= 0 && (s.received > s.contentLength || (f.endStream && s.received !== s.contentLength))) {
      return this.streamFail(streamError(id, E.PROTOCOL_ERROR, 'content-length does not match the data'), s);
    }
    if (f.data.length > 0 || f.endStream) this.events.push({ kind: 'data', stream: id, data: f.data, endStream: f.endStream });
    if (f.endStream && s.endRemote()) this.forget(s, 'closed');
  }

  private onReset(id: number, code: number): void {
    const s = this.streams.get(id);
    if (!s) return this.isIdle(id) ? this.fail(connError(E.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`)) : undefined;
    this.forget(s, 'closed');
    this.events.push({ kind: 'reset', stream: id, code, local: false });
    if (!s.local) this.abuse(this.guard.reset(this.now(), s.openedAt));
  }

  private onSettings(list: readonly (readonly [number, number])[]): void {
    if (this.abuse(this.guard.settings(this.now()))) return;
    for (const [id, value] of list) {
      const field = SETTING_FIELDS[id];
      if (!field) continue; // Unknown settings are ignored (§6.5.2).
      if (id === S.ENABLE_PUSH && value === 1 && this.role === 'client') return this.fail(connError(E.PROTOCOL_ERROR, 'server set SETTINGS_ENABLE_PUSH to 1'));
      if (id === S.INITIAL_WINDOW_SIZE) {
        const delta = value - this.peer.initialWindowSize;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) return this.fail(connError(E.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window'));
        }
      }
      if (id === S.HEADER_TABLE_SIZE) this.encoder.setPeerTableSize(value);
      this.peer[field] = value;
    }
    this.out.push(W.settingsAck());
    this.events.push({ kind: 'settings', ack: false });
    this.pumpAll();
  }

  private onSettingsAck(): void {
    if (this.pendingAcks > 0 && --this.pendingAcks === 0) this.decoder.setMaxTableSize(this.local.headerTableSize);
    this.events.push({ kind: 'settings', ack: true });
  }

  private onGoaway(lastStream: number, code: number, debug: Buffer): void {
    this.goawayReceived = lastStream;
    this.events.push({ kind: 'goaway', lastStream, code, debug: debug.toString('utf8') });
    for (const s of [...this.streams.values()]) {
      if (s.local && s.id > lastStream) {
        this.forget(s, 'closed');
        this.events.push({ kind: 'refused', stream: s.id });
      }
    }
  }

  private onWindowUpdate(id: number, increment: number): void {
    if (id === 0) {
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) return this.fail(connError(E.FLOW_CONTROL_ERROR, 'connection window above 2^31-1'));
      return this.pumpAll();
    }
    const s = this.streams.get(id);
    if (!s) return this.isIdle(id) ? this.fail(connError(E.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`)) : undefined;
    s.sendWindow += increment;
    if (s.sendWindow > MAX_WINDOW) return this.streamFail(streamError(id, E.FLOW_CONTROL_ERROR, 'stream window above 2^31-1'), s);
    this.pump(s);
  }

  /** HEADERS or DATA on a stream this side no longer tracks. */
  private lateFrame(id: number, what: string): void {
    const how = this.recent.get(id);
    if (how === 'reset') return; // In flight when this side reset it: ignored (§5.1 closed).
    // DATA on a stream closed too long ago to be remembered: most likely in flight before a reset, ignored.
    if (how === undefined && what === 'DATA') return;
    if (how === undefined && this.isPeerId(id) && what === 'HEADERS') {
      return this.fail(connError(E.PROTOCOL_ERROR, `stream id ${id} not above the last one opened`));
    }
    this.fail(connError(E.STREAM_CLOSED, `${what} on closed stream ${id}`));
  }

  private fail(e: H2Error, abuse?: Abuse): void {
    if (e.stream !== 0) {
      const s = this.streams.get(e.stream);
      return this.streamFail(e, s);
    }
    if (this.closed) return;
    this.closed = true;
    this.out.push(W.goaway(this.lastPeerStream, e.code, e.reason));
    this.events.push({ kind: 'error', code: e.code, reason: e.reason, abuse });
  }

  /** Connection error ENHANCE_YOUR_CALM when a guard tripped; true if so. */
  private abuse(a: Abuse | undefined): boolean {
    if (!a) return false;
    this.fail(connError(E.ENHANCE_YOUR_CALM, a), a);
    return true;
  }
}
