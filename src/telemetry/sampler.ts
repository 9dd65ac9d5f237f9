// Which requests are traced: OpenTelemetry's samplers as OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
// name them, and the exporter settings of the standard OTEL_* environment variables. Pure: text in,
// settings out; a decision from a trace id and the caller's decision.

export type SamplerKind = 'always_on' | 'always_off' | 'traceidratio';

export interface Sampler {
  readonly kind: SamplerKind;
  /** traceidratio: the share of traces, 0 to 1. */
  readonly ratio: number;
  /** parentbased_*: a caller's decision wins; this sampler decides for new traces only. */
  readonly parentBased: boolean;
}

/** OpenTelemetry's default sampler. */
export const DEFAULT_SAMPLER: Sampler = Object.freeze({ kind: 'always_on', ratio: 1, parentBased: true });

const KINDS: Readonly<Record<string, Sampler>> = {
  always_on: { kind: 'always_on', ratio: 1, parentBased: false },
  always_off: { kind: 'always_off', ratio: 0, parentBased: false },
  traceidratio: { kind: 'traceidratio', ratio: 1, parentBased: false },
  parentbased_always_on: { kind: 'always_on', ratio: 1, parentBased: true },
  parentbased_always_off: { kind: 'always_off', ratio: 0, parentBased: true },
  parentbased_traceidratio: { kind: 'traceidratio', ratio: 1, parentBased: true },
};

export const SAMPLER_NAMES: readonly string[] = Object.keys(KINDS);

/** The sampler of NAME and ARG; a message instead when either is not understood. */
export function parseSampler(name: string | undefined, arg: string | undefined): Sampler | string {
  const n = (name ?? '').trim().toLowerCase();
  if (n === '') return DEFAULT_SAMPLER;
  const base = KINDS[n];
  if (base === undefined) return `OTEL_TRACES_SAMPLER "${name}" is not one of ${SAMPLER_NAMES.join(', ')}; parentbased_always_on applies`;
  if (base.kind !== 'traceidratio') return base;
  if (arg === undefined || arg.trim() === '') return base;
  const ratio = Number(arg);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) return `OTEL_TRACES_SAMPLER_ARG "${arg}" must be a number from 0 to 1 (the share of traces kept); 1 applies`;
  return { ...base, ratio };
}

/**
 * Whether a trace is sampled: a parent-based sampler follows the caller's decision when there is one;
 * the ratio keeps traces whose id's last 56 bits fall below ratio × 2^56 (the same id gives the same
 * answer on every node, so a trace is kept or dropped whole).
 */
export function sample(s: Sampler, parentSampled: boolean | undefined, traceId: string): boolean {
  if (s.parentBased && parentSampled !== undefined) return parentSampled;
  if (s.kind === 'always_on') return true;
  if (s.kind === 'always_off') return false;
  return ratioKeeps(s.ratio, traceId);
}

const TWO56 = 2 ** 56;

export function ratioKeeps(ratio: number, traceId: string): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  // 56 bits as two exact parts: 24 high bits and 32 low bits.
  const hi = parseInt(traceId.slice(-14, -8), 16);
  const lo = parseInt(traceId.slice(-8), 16);
  if (Number.isNaN(hi) || Number.isNaN(lo)) return false;
  return hi * 2 ** 32 + lo < ratio * TWO56;
}

/** Exporter settings from the OTEL_* variables; `url` undefined = no exporter (nothing is recorded). */
export interface OtlpSettings {
  readonly url: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly serviceName: string | undefined;
  readonly sampler: Sampler;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the full URL; OTEL_EXPORTER_OTLP_ENDPOINT is a base that gets
 * /v1/traces. Headers are `k=v,k2=v2` (URL-encoded values); the timeout is in ms (default 10 s).
 * Problems are returned as messages, and the setting they concern falls back to its default.
 */
export function otlpSettings(env: Env): { settings: OtlpSettings; problems: string[] } {
  const problems: string[] = [];
  const pick = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  // The variable a value came from, so a problem names what to fix.
  const first = (...names: string[]): [string, string] | undefined => {
    for (const n of names) {
      const v = pick(n);
      if (v !== undefined) return [n, v];
    }
    return undefined;
  };
  let url = pick('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const endpointVar = url !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const base = pick('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (url === undefined && base !== undefined) url = `${base.replace(/\/+$/, '')}/v1/traces`;
  if (url !== undefined && !/^https?:\/\/[^/]/.test(url)) {
    problems.push(`${endpointVar} "${pick(endpointVar)}" must be an http:// or https:// URL (such as http://collector:4318): no spans are exported`);
    url = undefined;
  }
  const protocol = first('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL');
  if (protocol !== undefined && protocol[1] !== 'http/protobuf') problems.push(`${protocol[0]} "${protocol[1]}" is not supported: spans are sent as http/protobuf (point the endpoint at the collector's OTLP/HTTP port, 4318)`);
  const headers: Record<string, string> = {};
  const headerList = first('OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'OTEL_EXPORTER_OTLP_HEADERS');
  for (const item of (headerList?.[1] ?? '').split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) {
      problems.push(`${headerList?.[0]}: header "${item.trim()}" is not key=value; it is not sent`);
      continue;
    }
    try {
      headers[item.slice(0, eq).trim().toLowerCase()] = decodeURIComponent(item.slice(eq + 1).trim());
    } catch {
      problems.push(`${headerList?.[0]}: header "${item.slice(0, eq).trim()}" has a malformed URL-encoded value; it is not sent`);
    }
  }
  let timeoutMs = 10_000;
  const t = first('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT');
  if (t !== undefined) {
    const n = Number(t[1]);
    if (Number.isInteger(n) && n > 0) timeoutMs = n;
    else problems.push(`${t[0]} "${t[1]}" must be a positive whole number of milliseconds; 10000 applies`);
  }
  const samplerName = pick('OTEL_TRACES_SAMPLER');
  let s = parseSampler(samplerName, pick('OTEL_TRACES_SAMPLER_ARG'));
  if (typeof s === 'string') {
    problems.push(s);
    // A bad ratio keeps the named sampler with its default ratio (1); a bad name falls back to the default sampler.
    s = parseSampler(samplerName, undefined);
  }
  const sampler = typeof s === 'string' ? DEFAULT_SAMPLER : s;
  return { settings: { url, headers, timeoutMs, serviceName: pick('OTEL_SERVICE_NAME'), sampler }, problems };
}
