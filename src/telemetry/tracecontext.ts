// Trace context propagation: W3C Trace Context (traceparent, tracestate) and B3 (x-b3-* fields and the
// single `b3` field), read from a request and written for its upstream hop. Pure apart from the id
// source: ids come from a pooled buffer that crypto.randomFillSync refills every few hundred requests,
// so a request costs a slice of it, not a CSPRNG call. A malformed field counts as absent, never as
// an error: the request gets a fresh context instead.
import { randomFillSync } from 'node:crypto';

/** The fields this module reads and writes (lower-case). tracestate passes as it came. */
export const TRACE_FIELDS: readonly string[] = ['traceparent', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];

/** Which convention an incoming context was written in. */
export type TraceFormat = 'w3c' | 'b3' | 'b3-single';

/** A context read from a request. */
export interface Incoming {
  /** 32 lower-case hex digits (a 64-bit B3 id is left-padded with zeros). */
  readonly traceId: string;
  /** The caller's span: 16 lower-case hex digits. */
  readonly spanId: string;
  /** The caller's sampling decision; undefined = deferred (B3 without a sampled field). */
  readonly sampled: boolean | undefined;
  readonly format: TraceFormat;
  /** The caller wrote B3 as the single `b3` field next to the traceparent it was read from (as a
   *  previous hop of the mesh does for a `b3` caller): its B3 is written back in that form. */
  readonly b3Single?: boolean;
}

/** This hop's context: the trace, this hop's span and its parent (the caller's span, if any). */
export interface HopContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentId: string | undefined;
  readonly sampled: boolean;
  readonly tracestate: string | undefined;
}

/** Header edits for the upstream request: fields to drop, then fields to add. */
export interface TraceEdits {
  readonly remove: readonly string[];
  readonly add: readonly (readonly [string, string])[];
  /** ADD as HTTP/1 field lines, when made up front (a new trace: the common case). */
  readonly lines?: string;
}

type HeaderOf = (name: string) => string | undefined;

const HEX = /^[0-9a-f]+$/;
const ZERO32 = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const NONE: readonly string[] = Object.freeze([]);

function hexId(s: string | undefined, ...lengths: number[]): string | undefined {
  if (s === undefined) return undefined;
  const v = s.trim().toLowerCase();
  if (!lengths.includes(v.length) || !HEX.test(v)) return undefined;
  if (v === ZERO32.slice(0, v.length)) return undefined;
  return v;
}

/** traceparent `00-<32 hex>-<16 hex>-<2 hex>`; later versions may append `-...` (read as version 00). */
export function parseTraceparent(v: string | undefined): Incoming | undefined {
  if (v === undefined) return undefined;
  const s = v.trim().toLowerCase();
  if (s.length < 55 || s[2] !== '-' || s[35] !== '-' || s[52] !== '-') return undefined;
  const version = s.slice(0, 2);
  if (!HEX.test(version) || version === 'ff') return undefined;
  if (version === '00' ? s.length !== 55 : s.length > 55 && s[55] !== '-') return undefined;
  const traceId = hexId(s.slice(3, 35), 32);
  const spanId = hexId(s.slice(36, 52), 16);
  const flags = s.slice(53, 55);
  if (traceId === undefined || spanId === undefined || !HEX.test(flags)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1, format: 'w3c' };
}

/** B3 sampling state: "1"/"d" (debug) sample, "0" does not; "true"/"false" from old clients too. */
function b3Sampled(v: string | undefined, flags?: string): boolean | undefined | null {
  if (flags?.trim() === '1') return true;
  if (v === undefined) return undefined;
  switch (v.trim().toLowerCase()) {
    case '1':
    case 'd':
    case 'true':
      return true;
    case '0':
    case 'false':
      return false;
    default:
      return null;
  }
}

/** The single `b3` field: `{trace}-{span}[-{sampled}[-{parent}]]`, or a bare sampling state. */
export function parseB3Single(v: string | undefined): Incoming | undefined {
  if (v === undefined) return undefined;
  const parts = v.trim().split('-');
  if (parts.length < 2 || parts.length > 4) return undefined;
  const traceId = hexId(parts[0], 16, 32);
  const spanId = hexId(parts[1], 16);
  if (traceId === undefined || spanId === undefined) return undefined;
  const sampled = parts.length > 2 ? b3Sampled(parts[2]) : undefined;
  if (sampled === null || (parts.length > 3 && hexId(parts[3], 16) === undefined)) return undefined;
  return { traceId: traceId.padStart(32, '0'), spanId, sampled, format: 'b3-single' };
}

/** The x-b3-* fields. */
export function parseB3Multi(header: HeaderOf): Incoming | undefined {
  const traceId = hexId(header('x-b3-traceid'), 16, 32);
  const spanId = hexId(header('x-b3-spanid'), 16);
  if (traceId === undefined || spanId === undefined) return undefined;
  const sampled = b3Sampled(header('x-b3-sampled'), header('x-b3-flags'));
  if (sampled === null) return undefined;
  return { traceId: traceId.padStart(32, '0'), spanId, sampled, format: 'b3' };
}

/** The request's context: traceparent first, then `b3`, then x-b3-*; a malformed one is skipped. */
export function extract(header: HeaderOf): Incoming | undefined {
  return extractFields(header).incoming;
}

/**
 * The context, and whether the request carries trace fields at all (malformed ones are replaced).
 * SAMPLED: without a context, a bare B3 sampling state (`b3: 0`, `b3: 1`, `b3: d`, or x-b3-sampled /
 * x-b3-flags without ids): the caller's decision for the new trace, kept as a parent's would be.
 */
export function extractFields(header: HeaderOf): { incoming: Incoming | undefined; present: boolean; sampled?: boolean } {
  const tp = header('traceparent');
  const b3 = header('b3');
  const traceId = header('x-b3-traceid');
  const w3c = parseTraceparent(tp);
  if (w3c !== undefined) return { incoming: b3 !== undefined && traceId === undefined ? { ...w3c, b3Single: true } : w3c, present: true };
  const incoming = parseB3Single(b3) ?? (traceId !== undefined ? parseB3Multi(header) : undefined);
  if (incoming !== undefined) return { incoming, present: true };
  const xSampled = header('x-b3-sampled');
  const xFlags = header('x-b3-flags');
  const present = tp !== undefined || b3 !== undefined || traceId !== undefined || header('x-b3-spanid') !== undefined || xSampled !== undefined || xFlags !== undefined;
  const bare = b3 !== undefined && !b3.includes('-') ? b3Sampled(b3) : traceId === undefined && header('x-b3-spanid') === undefined ? b3Sampled(xSampled, xFlags) : undefined;
  return typeof bare === 'boolean' ? { incoming, present, sampled: bare } : { incoming, present };
}

// ---- ids --------------------------------------------------------------------------------------------

// Random bytes in hex, made 256 requests' worth at a time: a slice of one string is far cheaper than a
// native call per id.
const POOL = Buffer.allocUnsafe(24 * 256);
let poolHex = '';
let poolAt = 0;

function randomHex(bytes: number): string {
  const chars = 2 * bytes;
  if (poolAt + chars > poolHex.length) {
    randomFillSync(POOL);
    poolHex = POOL.toString('hex');
    poolAt = 0;
  }
  const s = poolHex.slice(poolAt, poolAt + chars);
  poolAt += chars;
  // All zeros is invalid: vanishingly rare, but a valid id is promised.
  return s === (chars === 32 ? ZERO32 : ZERO_SPAN) ? `${s.slice(0, -1)}1` : s;
}

export function newTraceId(): string {
  return randomHex(16);
}

export function newSpanId(): string {
  return randomHex(8);
}

// ---- the upstream fields ------------------------------------------------------------------------------

export function traceparentOf(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/** B3 carries a 64-bit trace id as 16 digits; a 128-bit one as 32. Ours are always 128-bit. */
function b3Fields(c: HopContext, single: boolean): [string, string][] {
  if (single) return [['b3', `${c.traceId}-${c.spanId}-${c.sampled ? '1' : '0'}${c.parentId !== undefined ? `-${c.parentId}` : ''}`]];
  const out: [string, string][] = [['x-b3-traceid', c.traceId], ['x-b3-spanid', c.spanId]];
  if (c.parentId !== undefined) out.push(['x-b3-parentspanid', c.parentId]);
  out.push(['x-b3-sampled', c.sampled ? '1' : '0']);
  return out;
}

export interface Propagation {
  readonly context: HopContext;
  /** Undefined: the upstream request carries the fields as they came. */
  readonly edits: TraceEdits | undefined;
}

/**
 * This hop's context and the upstream fields. SAMPLED: the decision for a new trace (or for a caller
 * that deferred it). RECORDED: this hop reports a span, so the upstream request names it as parent.
 * TRACEID: the id of a new trace when the caller drew it already (to sample by it). MALFORMED: the
 * request carries trace fields that did not parse; they are replaced.
 * - no incoming context: a new trace and span; traceparent and x-b3-* are added (replacing malformed ones);
 * - an incoming context and a recorded span: a new span in the same trace; every trace field is
 *   replaced (traceparent, plus B3 in the form the caller used: `b3` or x-b3-*), tracestate is kept;
 * - an incoming context and no recorded span: the fields pass unchanged (an unreported span would be a
 *   parent that no trace contains).
 */
export function propagate(incoming: Incoming | undefined, sampled: boolean, recorded: boolean, tracestate: string | undefined, traceId?: string, malformed = false): Propagation {
  if (incoming === undefined) {
    const t = traceId ?? newTraceId();
    const s = newSpanId();
    const flag = sampled ? '1' : '0';
    const tp = `00-${t}-${s}-0${flag}`;
    const context: HopContext = { traceId: t, spanId: s, parentId: undefined, sampled, tracestate: undefined };
    const add: [string, string][] = [['traceparent', tp], ['x-b3-traceid', t], ['x-b3-spanid', s], ['x-b3-sampled', flag]];
    // The HTTP/1 field lines are made by addedLines when an HTTP/1 transport asks (HTTP/2 never does).
    return { context, edits: { remove: malformed ? TRACE_FIELDS : NONE, add } };
  }
  const decided = incoming.sampled ?? sampled;
  if (!recorded) {
    return { context: { traceId: incoming.traceId, spanId: incoming.spanId, parentId: undefined, sampled: decided, tracestate }, edits: undefined };
  }
  const context: HopContext = { traceId: incoming.traceId, spanId: newSpanId(), parentId: incoming.spanId, sampled: decided, tracestate };
  return {
    context,
    edits: { remove: TRACE_FIELDS, add: [['traceparent', traceparentOf(context.traceId, context.spanId, decided)], ...b3Fields(context, incoming.format === 'b3-single' || incoming.b3Single === true)] },
  };
}

/** Applies EDITS to a header list (a copy; the list is unchanged when there are none). */
export function applyTraceEdits<T extends readonly (readonly [string, string])[]>(list: T, edits: TraceEdits | undefined): [string, string][] | T {
  if (edits === undefined) return list;
  const out: [string, string][] = [];
  for (const [k, v] of list) if (edits.remove.length === 0 || !edits.remove.includes(k)) out.push([k, v]);
  for (const [k, v] of edits.add) out.push([k, v]);
  return out;
}

/** EDITS as HTTP/1 field lines, when they only add (the raw head copy cannot remove). */
export function addedLines(edits: TraceEdits): string | undefined {
  if (edits.remove.length > 0) return undefined;
  if (edits.lines !== undefined) return edits.lines;
  let s = '';
  for (const [k, v] of edits.add) s += `${k}: ${v}\r\n`;
  return s;
}
