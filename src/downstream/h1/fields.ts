// The fields of a parsed HTTP/1 request head as the executor takes them: the list to route and match on,
// the list to forward (hop-by-hop fields, Host and Transfer-Encoding left out: the upstream side frames
// and sets the authority), and the access log's fields. Pure.
import { H, type Head } from '../../codec/h1head';
import { hopByHopRequestKind } from '../../codec/headers';
import type { HeaderList } from '../../proxy/types';

/** Fields left out of the list besides the hop-by-hop ones: the transport frames, authority is the host. */
function notForwarded(kind: number): boolean {
  return hopByHopRequestKind(kind) || kind === H.HOST || kind === H.TRANSFER_ENCODING;
}

/** The access log's fields of H (the log is written after the head went back to the connection). */
export function logFields(h: Head): { ua: string | undefined; xff: string | undefined } {
  // The first value of each, as header() gives it while the head is in use.
  let ua: string | undefined;
  let xff: string | undefined;
  for (let i = 0; i < h.count; i++) {
    const kind = h.kinds[i];
    if (kind === H.USER_AGENT) ua ??= h.value(i);
    else if (kind === H.X_FORWARDED_FOR) xff ??= h.value(i);
  }
  return { ua, xff };
}

/**
 * A WebSocket handshake (RFC 6455 4.1) Envoy's default upgrade config passes on: HTTP/1.1, no body,
 * `Connection` naming `upgrade` and `Upgrade: websocket`. Other upgrade tokens (h2c) are not passed on.
 */
export function isWebSocketUpgrade(h: Head): boolean {
  if (!h.upgrade || h.minor !== 1 || h.framing !== 'none') return false;
  let conn = false;
  let ws = false;
  for (let i = 0; i < h.count; i++) {
    const kind = h.kinds[i];
    if (kind === H.CONNECTION) conn ||= h.value(i).split(',').some((t) => t.trim().toLowerCase() === 'upgrade');
    else if (kind === H.UPGRADE) ws ||= h.value(i).trim().toLowerCase() === 'websocket';
  }
  return conn && ws;
}

/** [every field incl. host, the fields to forward], lower-case names. */
export function fieldsOf(h: Head): [HeaderList, HeaderList] {
  const all: [string, string][] = [];
  const fwd: [string, string][] = [];
  for (let i = 0; i < h.count; i++) {
    const kind = h.kinds[i]!;
    const name = h.name(i).toLowerCase();
    const value = h.value(i);
    all.push([name, value]);
    if (kind === H.TE) {
      if (h.teTrailers) fwd.push(['te', 'trailers']);
      continue;
    }
    if (notForwarded(kind)) continue;
    if (h.connTokens !== undefined && h.connTokens.includes(name)) continue;
    fwd.push([name, value]);
  }
  return [all, fwd];
}
