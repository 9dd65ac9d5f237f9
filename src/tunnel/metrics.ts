// Tunnel counters. The server and pool take plain hooks so they stay testable without Prometheus;
// tunnelMetrics() binds those hooks to prom-client series on the agent's registry.
import { Counter, Gauge, type Registry } from '../telemetry/promlite';

/**
 * Why the server turned a connection, session or stream away (`reason` label of
 * nodemesh_tunnel_rejected_total):
 *
 * | reason               | what arrived                                                             |
 * |----------------------|--------------------------------------------------------------------------|
 * | `not_tls`            | bytes that are not a TLS ClientHello (plain TCP, HTTP/1.1 in clear)      |
 * | `tls_handshake`      | TLS that failed otherwise: TLS 1.2 or older, no common cipher...         |
 * | `handshake_timeout`  | a client that did not finish the handshake in time                      |
 * | `no_client_cert`     | TLS without a client certificate                                         |
 * | `expired_client_cert`| a client certificate outside its validity period (or a skewed clock)     |
 * | `bad_client_cert`    | a client certificate that does not verify otherwise (unknown root...)    |
 * | `unknown_sni`        | SNI naming a workload with no certificate on this node                   |
 * | `bad_identity`       | a verified certificate without exactly one valid SPIFFE URI SAN          |
 * | `wrong_trust_domain` | a SPIFFE id of another trust domain                                      |
 * | `no_alpn`            | TLS that does not offer `h2` (HTTP/1.1 over TLS), or no ALPN at all      |
 * | `bad_method`         | a stream whose method is not CONNECT (answered 400)                      |
 * | `bad_authority`      | a CONNECT whose `:authority` is not `ipv4:port` (answered 400)           |
 * | `non_local_target`   | a CONNECT to an address this node does not serve (answered 400)          |
 * | `rapid_reset`        | a session whose streams are mostly reset right after opening (destroyed) |
 */
export type RejectReason =
  | 'not_tls'
  | 'tls_handshake'
  | 'handshake_timeout'
  | 'no_client_cert'
  | 'expired_client_cert'
  | 'bad_client_cert'
  | 'unknown_sni'
  | 'bad_identity'
  | 'wrong_trust_domain'
  | 'no_alpn'
  | 'bad_method'
  | 'bad_authority'
  | 'non_local_target'
  | 'rapid_reset';

export const REJECT_REASONS: readonly RejectReason[] = [
  'not_tls',
  'tls_handshake',
  'handshake_timeout',
  'no_client_cert',
  'expired_client_cert',
  'bad_client_cert',
  'unknown_sni',
  'bad_identity',
  'wrong_trust_domain',
  'no_alpn',
  'bad_method',
  'bad_authority',
  'non_local_target',
  'rapid_reset',
];

export interface TunnelServerMetrics {
  rejected(reason: RejectReason): void;
  /** A session passed the identity check / ended. */
  sessionOpened?(): void;
  sessionClosed?(): void;
  /** A CONNECT stream was handed to onStream. */
  streamAccepted?(): void;
}

export interface TunnelPoolMetrics {
  sessionOpened?(): void;
  sessionClosed?(): void;
  /** open() failed; `code` is the MeshError code. */
  openFailed?(code: string): void;
}

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  const existing = registry.getSingleMetric(name);
  return (existing as Counter<string> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

function gauge(registry: Registry, name: string, help: string, labelNames: string[]): Gauge<string> {
  const existing = registry.getSingleMetric(name);
  return (existing as Gauge<string> | undefined) ?? new Gauge({ name, help, labelNames, registers: [registry] });
}

/** Server and pool hooks over `registry`; every reject reason starts at 0 so rate() sees the first one. */
export function tunnelMetrics(registry: Registry): { server: TunnelServerMetrics; pool: TunnelPoolMetrics } {
  const rejected = counter(registry, 'nodemesh_tunnel_rejected_total', 'HBONE connections, sessions or streams the tunnel server refused, by reason', ['reason']);
  for (const r of REJECT_REASONS) rejected.inc({ reason: r }, 0);
  const sessions = gauge(registry, 'nodemesh_tunnel_sessions', 'Open HBONE sessions (server: accepted, client: pooled)', ['side']);
  const streams = counter(registry, 'nodemesh_tunnel_streams_total', 'HBONE CONNECT streams accepted by the tunnel server', []);
  const failures = counter(registry, 'nodemesh_tunnel_open_failures_total', 'Tunnel streams the pool could not open, by error code', ['code']);
  return {
    server: {
      rejected: (reason) => rejected.inc({ reason }),
      sessionOpened: () => sessions.inc({ side: 'server' }),
      sessionClosed: () => sessions.dec({ side: 'server' }),
      streamAccepted: () => streams.inc(),
    },
    pool: {
      sessionOpened: () => sessions.inc({ side: 'client' }),
      sessionClosed: () => sessions.dec({ side: 'client' }),
      openFailed: (code) => failures.inc({ code }),
    },
  };
}
