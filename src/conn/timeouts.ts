// Timeouts of the outbound path in one place, with Envoy/Istio-like defaults. Every wait the proxy
// does is bounded by one of these, so a client always gets an answer or a close in bounded time.

export interface Timeouts {
  /** Protocol sniffing wait; on expiry the connection is opaque TCP (server-speaks-first protocols). */
  readonly detectMs: number;
  /** Upstream TCP connect; expiry is 503 UF and ejects the endpoint. */
  readonly connectMs: number;
  /** From the end of the request to the end of the upstream response (Envoy's route timeout); 0 = off. */
  readonly requestMs: number;
  /** Complete request headers from the client (slowloris guard); expiry closes with 408. */
  readonly headersMs: number;
  /** Complete request including body from the client (node's requestTimeout); 0 = off. */
  readonly downstreamRequestMs: number;
  /** Idle client keep-alive connection between requests. */
  readonly downstreamIdleMs: number;
  /** Idle pooled upstream connection before it is closed (a server's Keep-Alive hint can shorten it). */
  readonly upstreamIdleMs: number;
  /** Opaque TCP connection without traffic either way (Envoy tcp_proxy idle_timeout). */
  readonly tcpIdleMs: number;
  /** How often byte counters of open TCP connections are flushed into metrics. */
  readonly tcpReportMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = Object.freeze({
  detectMs: 100,
  connectMs: 5_000,
  requestMs: 15_000,
  headersMs: 10_000,
  downstreamRequestMs: 300_000,
  downstreamIdleMs: 60_000,
  upstreamIdleMs: 30_000,
  tcpIdleMs: 3_600_000,
  tcpReportMs: 15_000,
});

export function resolveTimeouts(partial: Partial<Timeouts> | undefined): Timeouts {
  const t = { ...DEFAULT_TIMEOUTS, ...partial };
  for (const [k, v] of Object.entries(t)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`timeout ${k} must be a finite number >= 0, got ${String(v)}`);
  }
  return Object.freeze(t);
}
