// Opaque TCP: connect to a picked endpoint (bounded), then pipe both ways with backpressure and
// half-close (a client FIN is forwarded and the response still flows back). Byte counters are flushed
// into Istio's TCP metrics periodically and at close, so long-lived connections are visible.
// The connect and idle timeouts run on the shared coarse clock: idleness is read from the byte
// counters at sweep time, so moving data costs no timer refresh per chunk.
import type { Addr } from '../capture/types';
import type * as net from 'node:net';
import { dial } from './dial';
import { tlsFor, type UpstreamTls } from './tls';
import { performance } from 'node:perf_hooks';
import type { Lease } from '../balance/lease';
import type { BalancerSet, Target } from '../balance/set';
import type { ConnContext, ServiceLookup } from '../conn/context';
import type { Deadlines, Expiring } from '../conn/deadlines';
import type { Timeouts } from '../conn/timeouts';
import { formatAddr, socketAddr, type AccessLog } from '../telemetry/accesslog';
import type { Metrics, TcpStats } from '../telemetry/metrics';
import { classifyUpstreamError, CONNECT_TIMEOUT_CODE, errorCode } from './failure';

export interface TcpDeps {
  readonly metrics: Metrics;
  readonly balancers: BalancerSet;
  readonly timeouts: Timeouts;
  readonly accessLog: AccessLog;
  readonly index: () => ServiceLookup;
  readonly deadlines: Deadlines;
  /** Mesh tunnel route to dial instead of the endpoint (see OutboundDeps.dial). */
  readonly dial?: (client: Addr, target: Addr) => Addr | undefined;
}

class TcpSession implements Expiring {
  deadline = 0;
  private readonly t0 = performance.now();
  private upstream: net.Socket | undefined;
  private connected = false;
  private closedSockets = 0;
  /** Bytes moved either way at the last idle check, and when they last changed. */
  private seenBytes = -1;
  private activeAt = 0;
  private reportedIn = 0;
  private reportedOut = 0;
  private flags = '-';
  private termination: string | null = null;
  private upstreamLocal: string | null = null;
  private finished = false;

  constructor(
    private readonly proxy: TcpProxy,
    private readonly client: net.Socket,
    private readonly ctx: ConnContext,
    /** The picked endpoint of the routed cluster (VirtualService tcp route, DestinationRule policy). */
    private readonly lease: Lease | undefined,
    private readonly stats: TcpStats,
    /** DestinationRule tls SIMPLE/MUTUAL: the connection to the endpoint originates TLS (no ALPN). */
    private readonly tls: UpstreamTls | undefined,
    /** The routed cluster's name for the access log (outbound|PORT|SUBSET|HOST). */
    private readonly cluster: string = ctx.cluster,
  ) {
    this.target = lease?.target;
  }

  private readonly target: Target | undefined;

  start(head: Buffer | undefined): void {
    const { client, target } = this;
    client.on('error', this.onClientError);
    client.once('close', this.onClientClose);
    this.stats.opened();
    if (target === undefined) {
      this.flags = 'UH';
      this.termination = 'no healthy upstream';
      client.destroy();
      return;
    }
    const dst = this.proxy.deps.dial?.(this.ctx.peer, target.addr) ?? target.addr;
    const { socket: up, ready } = dial(dst, { allowHalfOpen: true, ...(this.tls !== undefined ? { tls: this.tls } : {}) });
    this.upstream = up;
    up.on('error', this.onUpError);
    up.once('close', this.onUpClose);
    up.once(ready, () => this.onConnect(head));
    const ms = this.proxy.deps.timeouts.connectMs;
    if (ms > 0) {
      this.deadline = this.t0 + ms;
      this.proxy.deps.deadlines.add(this);
    }
  }

  /** Connect timeout while connecting; afterwards the idle check, a few times per idle period. */
  expire(now: number): void {
    const up = this.upstream;
    if (up === undefined || this.finished) return;
    if (!this.connected) {
      const ms = this.proxy.deps.timeouts.connectMs;
      up.destroy(Object.assign(new Error(`connect timeout after ${ms} ms`), { code: CONNECT_TIMEOUT_CODE }));
      return;
    }
    const idle = this.proxy.deps.timeouts.tcpIdleMs;
    const c = this.client;
    const bytes = c.bytesRead + (c.bytesWritten ?? 0);
    if (bytes !== this.seenBytes) {
      this.seenBytes = bytes;
      this.activeAt = now;
    } else if (now - this.activeAt >= idle) {
      this.termination = 'idle timeout';
      c.destroy();
      return;
    }
    this.deadline = now + Math.max(1, idle / 4);
  }

  private onConnect(head: Buffer | undefined): void {
    const { client } = this;
    const up = this.upstream!;
    this.connected = true;
    this.lease!.settle('success', performance.now());
    if (this.proxy.deps.accessLog.enabled) this.upstreamLocal = socketAddr(up.localAddress, up.localPort);
    if (client.destroyed) {
      up.destroy();
      return;
    }
    const { tcpIdleMs: idle } = this.proxy.deps.timeouts;
    const deadlines = this.proxy.deps.deadlines;
    if (idle > 0) {
      this.activeAt = deadlines.now();
      this.deadline = this.activeAt + Math.max(1, idle / 4);
      deadlines.add(this);
    } else {
      this.deadline = 0;
      deadlines.delete(this);
    }
    // Bytes the client sent before it half-closed during detection (they could not be unshifted).
    if (head !== undefined) up.write(head);
    client.pipe(up);
    up.pipe(client);
  }

  private readonly onClientError = (err: Error): void => {
    this.termination ??= `downstream: ${err.message}`;
    this.upstream?.destroy();
  };

  private readonly onUpError = (err: Error): void => {
    this.termination ??= `upstream: ${err.message}`;
    const lease = this.lease;
    if (!this.connected && lease !== undefined) {
      const v = classifyUpstreamError(errorCode(err), 'connect');
      this.flags = v.flag;
      const now = performance.now();
      const s = v.eject ? lease.settle('connect-failure', now) : (lease.release(now), undefined);
      // An outlierDetection ejection is counted as such (onEject), not as a passive-health one.
      this.proxy.deps.metrics.connectFailure(lease.target, s !== undefined && s.ejected && s.passive);
    }
    this.client.destroy();
  };

  // A side that closes without having forwarded its peer's FIN went away abnormally: take the other
  // down too. After a clean half-close exchange both sides end on their own.
  private readonly onClientClose = (): void => {
    const up = this.upstream;
    if (up !== undefined && !up.destroyed && !up.writableEnded) up.destroy();
    this.closed();
  };

  private readonly onUpClose = (): void => {
    const c = this.client;
    if (!c.destroyed && !c.writableEnded) c.destroy();
    this.closed();
  };

  private closed(): void {
    this.closedSockets++;
    if (this.closedSockets >= (this.upstream === undefined ? 1 : 2)) this.finish();
  }

  /** Adds the byte deltas since the last report to the metrics. */
  report(): void {
    const c = this.client;
    const inNow = c.bytesRead;
    const outNow = c.bytesWritten ?? this.reportedOut;
    this.stats.received(inNow - this.reportedIn);
    this.stats.sent(outNow - this.reportedOut);
    this.reportedIn = inNow;
    this.reportedOut = outNow;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    // A connect the client did not wait for judges nothing.
    this.lease?.release(performance.now());
    this.proxy.deps.deadlines.delete(this);
    this.report();
    this.stats.closed(this.flags);
    this.proxy.done(this);
    const log = this.proxy.deps.accessLog;
    if (!log.enabled) return;
    const durationMs = performance.now() - this.t0;
    log.write({
      start_time: new Date(this.ctx.startedAt).toISOString(),
      method: null,
      path: null,
      protocol: null,
      response_code: 0,
      response_flags: this.flags,
      bytes_received: this.reportedIn,
      bytes_sent: this.reportedOut,
      duration: Math.round(durationMs),
      upstream_service_time: null,
      x_forwarded_for: null,
      user_agent: null,
      request_id: null,
      authority: null,
      upstream_host: this.target?.key ?? null,
      upstream_cluster: this.cluster,
      upstream_local_address: this.upstreamLocal,
      downstream_local_address: formatAddr(this.ctx.vip),
      downstream_remote_address: formatAddr(this.ctx.peer),
      connection_termination_details: this.termination,
    });
  }
}

export class TcpProxy {
  private readonly open = new Set<TcpSession>();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(readonly deps: TcpDeps) {
    const every = deps.timeouts.tcpReportMs;
    if (every > 0) this.timer = setInterval(() => this.flush(), every).unref();
  }

  /** Proxies a connection (paused, first bytes unshifted, or in `head` if the client already half-closed). */
  serve(client: net.Socket, ctx: ConnContext, head?: Buffer, sni?: string): void {
    const { deps } = this;
    const index = deps.index();
    ctx.upstreams(index);
    // VirtualService tls routes by SNI, then tcp routes (weighted); a route whose destination does not
    // resolve falls back to the service itself. Either way the DestinationRule's balancer picks.
    const conn = { sni, dst: ctx.vip.address, sourceLabels: ctx.source.labels, sourceNamespace: ctx.source.namespace };
    const dest = index.router.routeTcp(ctx.service, ctx.port, Math.random, conn) ?? index.router.destination(ctx.service, ctx.port, undefined);
    const lease = deps.balancers.for(dest).lease(index.upstreams(dest.service, dest.port, ctx.vip), { originalDst: ctx.vip.address }, performance.now());
    if (lease?.panic === true) deps.metrics.panicPicks.inc({ service: ctx.service.key });
    const session = new TcpSession(this, client, ctx, lease, deps.metrics.tcp(ctx.source, dest.service, lease?.target), tlsFor(dest), dest.cluster);
    this.open.add(session);
    session.start(head);
  }

  /** Open proxied TCP connections. */
  size(): number {
    return this.open.size;
  }

  flush(): void {
    for (const s of this.open) s.report();
  }

  /** @internal called by a session when both of its sockets closed. */
  done(session: TcpSession): void {
    this.open.delete(session);
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.flush();
  }
}
