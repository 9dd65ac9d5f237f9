// HTTP/2 from captured clients (h2c, prior knowledge): the socket, preface put back by detection, runs
// the codec (codec/h2) through conn/h2socket.ts; each stream becomes an L7Request + L7Sink for the
// engine. Abuse closes that connection only (codec/h2/guard.ts: rapid reset, PING and SETTINGS floods,
// empty frames; the frame reader bounds header blocks and CONTINUATION floods). New streams are
// dispatched after the read that carried them, so a stream reset in the same read costs no upstream work.
import type { Duplex } from 'node:stream';
import { Counter, type Registry } from '../../telemetry/promlite';
import type { GuardLimits } from '../../codec/h2/guard';
import type { ConnContext } from '../../conn/context';
import { H2Socket, type H2Stream } from '../../conn/h2socket';
import type { Timeouts } from '../../conn/timeouts';
import { CATALOG } from '../../errors';
import { logger } from '../../log';
import { sourceOf } from '../../proxy/source';
import type { L7Handler } from '../../proxy/types';
import { formatAddr } from '../../telemetry/accesslog';
import type { Metrics } from '../../telemetry/metrics';
import { expectsContinue, H2Request, H2Sink } from './stream';

const log = logger('http2');

/** Envoy's defaults: 100 concurrent streams, 64 KiB stream window, 1 MiB connection window, 64 KiB of headers. */
export const H2_SETTINGS = Object.freeze({
  maxConcurrentStreams: 100,
  initialWindowSize: 65_535,
  sessionWindow: 1 << 20,
  maxHeaderListSize: 64 * 1024,
});

export interface H2DownstreamDeps {
  readonly metrics: Metrics;
  readonly timeouts: Timeouts;
  readonly guard?: Partial<GuardLimits>;
  /** Clock (ms) for the abuse windows; performance.now by default. */
  readonly now?: () => number;
}

export class H2Downstream {
  private readonly conns = new Set<H2Socket>();
  private readonly now: () => number;
  private readonly closedCounter: Counter<'reason'>;
  private lastWarn = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly handler: L7Handler,
    private readonly deps: H2DownstreamDeps,
  ) {
    this.now = deps.now ?? (() => performance.now());
    this.closedCounter = abuseCounter(deps.metrics.registry);
  }

  /**
   * Takes over a connection detected as HTTP/2 (paused, with its preface unshifted): a captured socket,
   * or on the destination side a tunnel stream seen as a Duplex.
   */
  serve(socket: Duplex, ctx: ConnContext): void {
    if (socket.destroyed) return;
    let conn: H2Socket | undefined = undefined;
    const source = sourceOf(ctx.source);
    conn = new H2Socket(
      socket,
      {
        role: 'server',
        settings: {
          maxConcurrentStreams: H2_SETTINGS.maxConcurrentStreams,
          initialWindowSize: H2_SETTINGS.initialWindowSize,
          maxHeaderListSize: H2_SETTINGS.maxHeaderListSize,
        },
        connectionWindow: H2_SETTINGS.sessionWindow,
        ...(this.deps.guard !== undefined && { limits: this.deps.guard }),
        idleMs: this.deps.timeouts.downstreamIdleMs,
        now: this.now,
      },
      {
        stream: (s) => this.onStream(s, ctx, source),
        error: (code, reason, abuse) => {
          this.closedCounter.inc({ reason: abuse ?? 'protocol_error' });
          this.warn(abuse ?? 'protocol_error', ctx, reason);
          log.debug({ code, reason, peer: formatAddr(ctx.peer) }, 'http2 connection error');
        },
        close: () => this.conns.delete(conn!),
      },
    );
    if (!conn.destroyed) this.conns.add(conn);
  }

  /** Graceful: GOAWAY to every client; each connection closes once its streams finish. */
  drain(): void {
    for (const c of this.conns) c.close();
  }

  /** Drops every connection now. */
  close(): void {
    for (const c of [...this.conns]) c.destroy();
    this.conns.clear();
  }

  /** Open HTTP/2 client connections. */
  size(): number {
    return this.conns.size;
  }

  private onStream(s: H2Stream, ctx: ConnContext, source: ReturnType<typeof sourceOf>): void {
    const sink = new H2Sink(s);
    try {
      const req = new H2Request(s, sink, ctx, source);
      if (req.method === 'CONNECT') {
        // CONNECT (tunnels, extended CONNECT) is not proxied at L7, as on the HTTP/1 path.
        sink.respond(400, [['content-type', 'text/plain']], false);
        sink.write(Buffer.from(CATALOG.BAD_REQUEST.message));
        sink.end();
        ctx.requestStats(this.deps.metrics, false, ctx.service, undefined).record(400, 'DPE', 0, 0, 0);
        return;
      }
      // expect: 100-continue with the body still to come: answered here, as on the HTTP/1 path (the field
      // is not forwarded).
      if (!s.remoteEnded && expectsContinue(req.header('expect'))) sink.continue100();
      this.handler.handle(req, sink, ctx);
    } catch (err) {
      log.error({ err }, 'http2 handling failed');
      sink.reset();
    }
  }

  private warn(reason: string, ctx: ConnContext, detail: string | undefined): void {
    const now = Date.now();
    if (now - this.lastWarn < 10_000) {
      this.suppressed++;
      return;
    }
    this.lastWarn = now;
    log.warn({ code: CATALOG.H2_PROTOCOL.code, reason, detail, peer: formatAddr(ctx.peer), suppressed: this.suppressed }, CATALOG.H2_PROTOCOL.message);
    this.suppressed = 0;
  }
}

/** nodemesh_h2_sessions_closed_total, shared by every H2Downstream on a registry. */
function abuseCounter(registry: Registry): Counter<'reason'> {
  const name = 'nodemesh_h2_sessions_closed_total';
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<'reason'>;
  return new Counter({
    name,
    help: 'Client HTTP/2 connections closed for abuse (rapid_reset, ping_flood, settings_flood, empty_frames) or a protocol error (protocol_error)',
    labelNames: ['reason'],
    registers: [registry],
  });
}
