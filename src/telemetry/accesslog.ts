// Envoy-style access log: one JSON line per request (HTTP) or connection (TCP) with Envoy's default
// JSON field names, written through a pino child ({module: 'access'}). Off means no object is built.
import type { Addr } from '../capture/types';
import { logger, type Logger } from '../log';

/** Envoy's default JSON access log fields; null where Envoy prints "-". */
export interface AccessLogEntry {
  start_time: string;
  method: string | null;
  path: string | null;
  protocol: string | null;
  response_code: number;
  response_flags: string;
  bytes_received: number;
  bytes_sent: number;
  /** Total duration, ms. */
  duration: number;
  /** From the request start to the upstream response headers, ms (x-envoy-upstream-service-time). */
  upstream_service_time: number | null;
  x_forwarded_for: string | null;
  user_agent: string | null;
  request_id: string | null;
  authority: string | null;
  upstream_host: string | null;
  upstream_cluster: string | null;
  upstream_local_address: string | null;
  downstream_local_address: string | null;
  downstream_remote_address: string | null;
  connection_termination_details: string | null;
}

export interface AccessLogOptions {
  readonly enabled?: boolean;
  /** Defaults to the process logger's `access` child. */
  readonly logger?: Logger;
}

export class AccessLog {
  /** Callers check this before building an entry, so a disabled log costs one branch. */
  readonly enabled: boolean;
  private readonly log: Logger;

  constructor(opts: AccessLogOptions = {}) {
    this.log = opts.logger ?? logger('access');
    this.enabled = (opts.enabled ?? true) && this.log.isLevelEnabled('info');
  }

  write(entry: AccessLogEntry): void {
    if (this.enabled) this.log.info(entry);
  }
}

export const DISABLED_ACCESS_LOG = new AccessLog({ enabled: false });

/** Envoy's outbound cluster name, which Istio users grep for: outbound|PORT||HOST. */
export function upstreamCluster(port: number, host: string | undefined): string {
  return `outbound|${port}||${host ?? 'unknown'}`;
}

export function formatAddr(addr: Addr | undefined): string | null {
  return addr === undefined ? null : `${addr.address}:${addr.port}`;
}

/** "address:port" of a socket end, or null when the socket never connected. */
export function socketAddr(address: string | undefined, port: number | undefined): string | null {
  return address === undefined || port === undefined ? null : `${address}:${port}`;
}
