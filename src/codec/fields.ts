// Header fields as every protocol adapter and upstream transport hands them around: a list of
// [lower-case name, value] in order. Kept free of protocol code so each layer can share it.
import type * as http2 from 'node:http2';

/** Header fields as [lower-case name, value], in order; a repeated field appears once per value. */
export type HeaderList = readonly (readonly [string, string])[];

/** node's http2 header object as a list, without pseudo-headers (node already lower-cases names). */
export function listOf(h: http2.IncomingHttpHeaders | undefined): HeaderList {
  const out: [string, string][] = [];
  if (h === undefined) return out;
  for (const k of Object.keys(h)) {
    if (k.charCodeAt(0) === 58 /* : */) continue;
    const v = h[k];
    if (Array.isArray(v)) for (const x of v) out.push([k, x]);
    else if (v !== undefined) out.push([k, String(v)]);
  }
  return out;
}
