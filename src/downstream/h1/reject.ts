// Requests the HTTP/1 parser cannot take (malformed, oversized, too slow): how they are answered, and
// how they are counted and logged, the same way whichever part of the connection refused them.
import type { CatalogEntry, ErrorName } from '../../errors';
import type { ConnContext } from '../../conn/context';
import { logger } from '../../log';
import type { AccessLog } from '../../telemetry/accesslog';
import { formatAddr } from '../../telemetry/accesslog';
import type { Metrics } from '../../telemetry/metrics';
import { ERRORS } from '../../codec/h1parse';

const log = logger('http1');

/** Our code for a client that did not complete its request head within headersMs. */
export const HEADERS_TIMEOUT_CODE = 'HEADERS_TIMEOUT';

/**
 * How a request the proxy cannot take is answered, by parse error code (h1head ERRORS): 431 for an
 * oversized head (what node and nginx send), 408 for a slow one, 400 otherwise; nothing for a socket
 * that is already dead.
 */
export function clientErrorAnswer(code: string | undefined): { readonly error: ErrorName; readonly status: number } | undefined {
  switch (code) {
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ETIMEDOUT':
      return undefined;
    case ERRORS.tooLarge.code:
    case ERRORS.tooMany.code:
      return { error: 'HEADERS_TOO_LARGE', status: 431 };
    case HEADERS_TIMEOUT_CODE:
      return { error: 'REQUEST_HEADERS_TIMEOUT', status: 408 };
    default:
      return { error: 'BAD_REQUEST', status: 400 };
  }
}

/** Counts and logs a refused request (a slow client is not a request: node's server did not count it either). */
export function recordRejected(deps: { readonly metrics: Metrics; readonly accessLog: AccessLog }, ctx: ConnContext, status: number, entry: CatalogEntry, reason: string): void {
  const flag = entry.flag ?? '-';
  if (status !== 408) ctx.requestStats(deps.metrics, false, ctx.service, undefined).record(status, flag, 0, 0, 0);
  log.debug({ code: entry.code, reason, peer: formatAddr(ctx.peer) }, entry.message);
  if (!deps.accessLog.enabled) return;
  deps.accessLog.write({
    start_time: new Date().toISOString(),
    method: null,
    path: null,
    protocol: 'HTTP/1.1',
    response_code: status,
    response_flags: flag,
    bytes_received: 0,
    bytes_sent: 0,
    duration: 0,
    upstream_service_time: null,
    x_forwarded_for: null,
    user_agent: null,
    request_id: null,
    authority: null,
    upstream_host: null,
    upstream_cluster: ctx.cluster,
    upstream_local_address: null,
    downstream_local_address: formatAddr(ctx.vip),
    downstream_remote_address: formatAddr(ctx.peer),
    connection_termination_details: reason,
  });
}
