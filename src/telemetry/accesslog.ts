// Envoy-style access log: one JSON line per request (HTTP) or connection (TCP) with Envoy's default
// JSON field names, as a line of the pino child ({module: 'access'}) — same level, time and bindings —
// but serialised here with the fields known in advance (about half of pino's generic cost per line),
// and written to that logger's stream: the process's one buffered asynchronous destination (log.ts).
// Off means no object is built.
import pino from 'pino';
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
  /** The request's trace id (32 hex digits); absent or null for connections and untraced requests. */
  trace_id?: string | null;
}

export interface AccessLogOptions {
  readonly enabled?: boolean;
  /** Defaults to the process logger's `access` child. */
  readonly logger?: Logger;
}

/** pino's own keys and level number for info, as pino writes them. */
const INFO = 30;

/** A JSON value for a string field that may be null and may hold anything (client-supplied). */
function str(v: string | null): string {
  return v === null ? 'null' : JSON.stringify(v);
}

/**
 * A JSON value for a field the agent itself formats from characters that never need escaping
 * ("ip:port", cluster names from validated host names, flags, protocol names, ISO times).
 */
function plain(v: string | null): string {
  return v === null ? 'null' : `"${v}"`;
}

/** One access-log line: pino's envelope (level, time, the logger's bindings), then Envoy's fields in order. */
export function accessLine(bindings: string, e: AccessLogEntry, time: string): string {
  return `{"level":${INFO},"time":"${time}"${bindings},"start_time":"${e.start_time}","method":${str(e.method)},"path":${str(e.path)},"protocol":${plain(e.protocol)}` +
    `,"response_code":${e.response_code},"response_flags":"${e.response_flags}","bytes_received":${e.bytes_received},"bytes_sent":${e.bytes_sent}` +
    `,"duration":${e.duration},"upstream_service_time":${e.upstream_service_time === null ? 'null' : e.upstream_service_time}` +
    `,"x_forwarded_for":${str(e.x_forwarded_for)},"user_agent":${str(e.user_agent)},"request_id":${str(e.request_id)},"authority":${str(e.authority)}` +
    `,"upstream_host":${plain(e.upstream_host)},"upstream_cluster":${str(e.upstream_cluster)},"upstream_local_address":${plain(e.upstream_local_address)}` +
    `,"downstream_local_address":${plain(e.downstream_local_address)},"downstream_remote_address":${plain(e.downstream_remote_address)}` +
    `,"connection_termination_details":${str(e.connection_termination_details)}${e.trace_id === undefined ? '' : `,"trace_id":${plain(e.trace_id)}`}}\n`;
}

type WithStream = Logger & { [k: symbol]: unknown };

// Many lines share a millisecond under load: one Date and one toISOString per millisecond, not per
// line. Two caches, since a line's time and its start_time are usually different milliseconds.
class IsoClock {
  private ms = -1;
  private iso = '';

  at(ms: number): string {
    const m = Math.floor(ms);
    if (m !== this.ms) {
      this.ms = m;
      this.iso = new Date(m).toISOString();
    }
    return this.iso;
  }
}

const lineClock = new IsoClock();
const startClock = new IsoClock();

/** start_time of something that ended now after DURATION_MS. */
export function startTime(durationMs: number): string {
  return startClock.at(Date.now() - durationMs);
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
    if (!this.enabled) return;
    // Looked up per line: a test harness may swap the root logger's stream after this object was made.
    const l = this.log as WithStream;
    const stream = l[pino.symbols.streamSym] as { write(s: string): unknown; bulk?(s: string): unknown };
    const line = accessLine(l[pino.symbols.chindingsSym] as string, entry, lineClock.at(Date.now()));
    // The process's sink lets access lines share writes (logsink.ts); any other stream gets write().
    if (stream.bulk !== undefined) stream.bulk(line);
    else stream.write(line);
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
