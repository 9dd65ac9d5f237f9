// Duration strings as Istio accepts them ("10s", "0.5s", "250ms", "1m30s": Go's time.ParseDuration
// forms) to whole milliseconds. Istio supports millisecond precision only, and timers cannot wait longer
// than 2^31-1 ms, so finer or longer values are refused rather than rounded or wrapped.

export type DurationResult = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly error: string };

/** Longest wait a Node.js timer supports (setTimeout clamps anything longer to 1 ms). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Nanoseconds per unit; µs is Go's spelling of us (both the micro sign and the Greek mu). */
const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const TERM = /^([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)/;
const MAX_TERMS = 16;

export function parseDuration(text: string): DurationResult {
  const bad = (why: string): DurationResult => ({ ok: false, error: `"${text}" ${why}` });
  if (text === '') return bad('is not a duration (like "10s", "250ms" or "1m30s")');
  if (text.startsWith('-')) return bad('is negative');
  if (text === '0') return { ok: true, ms: 0 };
  let rest = text.startsWith('+') ? text.slice(1) : text;
  // Integer nanoseconds and fractional parts scaled separately keep "0.1s" exact.
  let ns = 0;
  let terms = 0;
  while (rest !== '' && terms < MAX_TERMS) {
    const m = TERM.exec(rest);
    const [whole = '', digits = '', fraction = '', unit = ''] = m ?? [];
    if (m === null || (digits === '' && fraction === '')) return bad('is not a duration (like "10s", "250ms" or "1m30s"; a unit is required)');
    const scale = UNIT_NS[unit] ?? 0;
    ns += Number(digits || '0') * scale + (fraction === '' ? 0 : Number(`0.${fraction}`) * scale);
    if (ns > MAX_DURATION_MS * 1e6) return bad(`is too long (at most ${MAX_DURATION_MS} ms, about 596 hours)`);
    rest = rest.slice(whole.length);
    terms++;
  }
  if (rest !== '') return bad('has too many parts');
  const ms = ns / 1e6;
  // Float scaling may leave a tiny error on exact values (0.3 * 1e9); anything beyond it is sub-ms.
  const rounded = Math.round(ms);
  if (Math.abs(ms - rounded) > 1e-6) return bad('is finer than a millisecond (only millisecond precision is supported)');
  return { ok: true, ms: rounded };
}
