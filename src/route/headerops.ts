// VirtualService header manipulation merged once per (route, destination) into flat edit lists, so the
// HTTP/1 head writer and the HTTP/2 header object both apply them without merging per request.
import type { HeaderOps, HttpRoute, WeightedDestination } from '../config/traffic';
import type { HeaderEdits, RouteHeaderEdits } from './types';

/** Route-level ops then the destination's: on `set` the destination wins; `add` and `remove` accumulate. */
export function mergeHeaderOps(route: HeaderOps | undefined, dest: HeaderOps | undefined): HeaderEdits | undefined {
  if (isEmpty(route) && isEmpty(dest)) return undefined;
  const set = new Map<string, string>();
  const add: [string, string][] = [];
  const remove: string[] = [];
  for (const ops of [route, dest]) {
    if (ops === undefined) continue;
    for (const [k, v] of Object.entries(ops.set ?? {})) {
      const name = k.toLowerCase();
      set.delete(name); // re-insert so the winning value takes the later position
      set.set(name, v);
    }
    for (const [k, v] of Object.entries(ops.add ?? {})) add.push([k.toLowerCase(), v]);
    for (const k of ops.remove ?? []) if (!remove.includes(k.toLowerCase())) remove.push(k.toLowerCase());
  }
  return Object.freeze({ remove: Object.freeze(remove), set: Object.freeze([...set].map((e) => Object.freeze(e))), add: Object.freeze(add.map((e) => Object.freeze(e))) });
}

/** The edits a request forwarded by ROUTE to WEIGHTED gets; undefined when neither level has any. */
export function headerEdits(route: HttpRoute, weighted: WeightedDestination | undefined): RouteHeaderEdits | undefined {
  const request = mergeHeaderOps(route.headers?.request, weighted?.headers?.request);
  const response = mergeHeaderOps(route.headers?.response, weighted?.headers?.response);
  return request === undefined && response === undefined ? undefined : Object.freeze({ request, response });
}

/** Header map of HTTP/2 style (lower-case name → value or values). */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** Applies EDITS to HEADERS in place (remove, set, add), e.g. an HTTP/2 header object or a parsed HTTP/1 head. */
export function applyHeaderEdits(edits: HeaderEdits | undefined, headers: HeaderMap): void {
  if (edits === undefined) return;
  for (let i = 0; i < edits.remove.length; i++) delete headers[edits.remove[i]];
  for (let i = 0; i < edits.set.length; i++) headers[edits.set[i][0]] = edits.set[i][1];
  for (let i = 0; i < edits.add.length; i++) {
    const [name, value] = edits.add[i];
    const cur = headers[name];
    headers[name] = cur === undefined ? value : Array.isArray(cur) ? [...cur, value] : [cur, value];
  }
}

function isEmpty(ops: HeaderOps | undefined): boolean {
  return ops === undefined || (Object.keys(ops.set ?? {}).length === 0 && Object.keys(ops.add ?? {}).length === 0 && (ops.remove ?? []).length === 0);
}
