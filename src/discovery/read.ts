// Defensive readers for API JSON, used by trim.ts. Input comes from the network (or from a client library
// that copied it field by field), so every value is checked for type, size and format before it is kept.
// A reader that finds a malformed value throws Skip with the field's path; trimObject turns that into
// { skip } and never lets it escape.

export class Skip {
  constructor(readonly reason: string) {}
}

export function skip(reason: string): never {
  throw new Skip(reason);
}

export type Json = Record<string, unknown>;

export function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short description of a bad value for the log: never the whole of a huge string. */
export function shown(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  const s = typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : String(v);
  return `${typeof v} ${s}`;
}

/** A nested object; absent (undefined or null, as the API writes empty fields) gives undefined. */
export function obj(v: unknown, path: string): Json | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) skip(`${path} must be a mapping, got ${shown(v)}`);
  return v;
}

/** A list with at most MAX items; absent gives []. */
export function list(v: unknown, path: string, max: number): readonly unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) skip(`${path} must be a list, got ${shown(v)}`);
  if (v.length > max) skip(`${path} has ${v.length} items, more than ${max}`);
  return v;
}

// C0 controls (NUL included) and DEL: never part of a value nodemesh keeps (they would also corrupt logs).
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A free-form string (no format of its own), at most MAX characters, without control characters. */
export function text(v: unknown, path: string, max: number): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') skip(`${path} must be a string, got ${shown(v)}`);
  if (v.length > max) skip(`${path} is ${v.length} characters long, more than ${max}`);
  if (CONTROL.test(v)) skip(`${path} contains a control character`);
  return v;
}

/** A string checked by CHECK (a formats.ts check: a problem, or undefined when fine). */
export function checked(v: unknown, path: string, check: (s: string) => string | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') skip(`${path} must be a string, got ${shown(v)}`);
  const problem = check(v);
  if (problem !== undefined) skip(`${path}: ${v.length > 300 ? `a ${v.length}-character string` : problem}`);
  return v;
}

export function bool(v: unknown, path: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') skip(`${path} must be true or false, got ${shown(v)}`);
  return v;
}

export function int(v: unknown, path: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) skip(`${path} must be an integer ${min}-${max}, got ${shown(v)}`);
  return v;
}

/** DNS-1123 label (Service and port names): at most 63 lowercase letters, digits and '-'. */
export function checkLabelName(s: string): string | undefined {
  return s.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s) ? undefined : `"${s}" is not a DNS-1123 label`;
}

// Kubernetes label syntax: [prefix/]name, prefix a DNS subdomain (≤ 253), name and value ≤ 63 characters
// of [A-Za-z0-9-_.] starting and ending alphanumeric (a value may be empty).
const LABEL_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function labelKeyProblem(key: string): string | undefined {
  if (key.length > 253 + 1 + 63) return `a label key is ${key.length} characters long`;
  const slash = key.indexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !PREFIX.test(prefix))) return `label key ${shown(key)} has an invalid prefix`;
  if (name.length === 0 || name.length > 63 || !LABEL_PART.test(name)) return `label key ${shown(key)} is not a valid label name`;
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63) return `is ${value.length} characters long, more than 63`;
  if (value !== '' && !LABEL_PART.test(value)) return `${shown(value)} is not a valid label value`;
  return undefined;
}

/**
 * Real clusters stay far below this (node-feature-discovery puts a few hundred labels on GPU nodes);
 * more is garbage that would only cost memory.
 */
export const MAX_LABELS = 512;

/** metadata.labels: every key and value valid, or the object is skipped (selectors and opt-in read them). */
export function labels(v: unknown, path: string): Readonly<Record<string, string>> {
  const m = obj(v, path);
  if (m === undefined) return EMPTY;
  const keys = Object.keys(m);
  if (keys.length === 0) return EMPTY;
  if (keys.length > MAX_LABELS) skip(`${path} has ${keys.length} labels, more than ${MAX_LABELS}`);
  const out: Record<string, string> = {};
  for (const k of keys) {
    const problem = labelKeyProblem(k);
    if (problem !== undefined) skip(`${path}: ${problem}`);
    const value = m[k];
    if (typeof value !== 'string') skip(`${path}["${k}"] must be a string, got ${shown(value)}`);
    const bad = labelValueProblem(value);
    if (bad !== undefined) skip(`${path}["${k}"] ${bad}`);
    out[k] = value;
  }
  return out;
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});
