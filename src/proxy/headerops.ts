// Header lists for routed requests: the router's precomputed edits (remove, set, add), the proxy's own
// request fields (x-request-id, x-forwarded-proto), the `-shadow` authority of mirrored copies, and the
// response fields an upstream may pass to the client. Pure: lists in, lists out.
import type { HeaderEdits } from '../route/types';
import { HOP_BY_HOP } from '../codec/headers';
import type { HeaderList } from './types';

/** Applies router header edits to a list: remove, then set (replaces every value), then add (appends). */
export function applyEdits(list: HeaderList, edits: HeaderEdits | undefined): HeaderList {
  if (edits === undefined) return list;
  const { remove, set, add } = edits;
  if (remove.length === 0 && set.length === 0 && add.length === 0) return list;
  const out: [string, string][] = [];
  for (const [k, v] of list) {
    if (remove.includes(k)) continue;
    let replaced = false;
    for (let i = 0; i < set.length; i++) if (set[i]![0] === k) replaced = true;
    if (!replaced) out.push([k, v]);
  }
  for (const [k, v] of set) out.push([k, v]);
  for (const [k, v] of add) out.push([k, v]);
  return out;
}

/** First value of NAME in a list (names are lower-case). */
export function getHeader(list: HeaderList, name: string): string | undefined {
  for (const [k, v] of list) if (k === name) return v;
  return undefined;
}

/** Envoy's shadow host: "-shadow" appended to the host, before the port when there is one. */
export function shadowAuthority(authority: string): string {
  const colon = authority.lastIndexOf(':');
  const bracket = authority.lastIndexOf(']');
  if (colon > bracket && colon !== -1) return `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
  return `${authority}-shadow`;
}

export interface ProxyFields {
  readonly requestId: string | undefined;
}

/** Adds x-request-id and x-forwarded-proto when the request has none, as the HTTP/1 path does. */
export function addProxyFields(list: HeaderList, fields: ProxyFields): HeaderList {
  const id = fields.requestId !== undefined && getHeader(list, 'x-request-id') === undefined;
  const xfp = getHeader(list, 'x-forwarded-proto') === undefined;
  if (!id && !xfp) return list;
  // One copy for both fields (every request without them passes here).
  const out = list.slice();
  if (id) out.push(['x-request-id', fields.requestId!]);
  if (xfp) out.push(XFP);
  return out;
}

const XFP: readonly [string, string] = Object.freeze(['x-forwarded-proto', 'http'] as const);

/**
 * Response fields from an upstream that may go to the client: hop-by-hop and pseudo fields removed.
 * HTTP/1 upstream fields named by Connection are hop-by-hop too.
 */
export function responseFields(list: HeaderList): HeaderList {
  let named: string[] | undefined;
  for (const [k, v] of list) if (k === 'connection') (named ??= []).push(...v.split(',').map((t) => t.trim().toLowerCase()));
  let clean = true;
  for (const [k] of list) if (HOP_BY_HOP.has(k) || k.charCodeAt(0) === 58 /* : */ || named?.includes(k)) clean = false;
  if (clean) return list;
  return list.filter(([k]) => !HOP_BY_HOP.has(k) && k.charCodeAt(0) !== 58 && !(named?.includes(k) ?? false));
}
