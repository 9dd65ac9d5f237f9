// Telemetry (telemetry.istio.io): trace sampling, span reporting and access logging per workload. The
// scopes (mesh, namespace, workload) are resolved by telemetry/policy.ts; here only one document. The
// spans go to the OTLP endpoint of the agent's environment, the access log to its standard output, so
// `providers` choose nothing; CEL filters, custom tags and metric overrides are refused with advice.
import { Fields } from '../fields';
import { ROOT_NAMESPACE, type ConfigIssue, type TelemetryAccessLog, type TelemetryMode, type TelemetryTracing } from '../model';
import { readMetadata } from './metadata';
import { readPolicySelector } from './security';
import { bool, numberIn } from './trafficfields';
import type { Origin, Parsed, ParsedTelemetry } from './types';

const SPEC_FIELDS = ['selector', 'tracing', 'accessLogging'];
const SPEC_UNSUPPORTED = ['metrics', 'targetRef', 'targetRefs'];
const TRACING_FIELDS = ['match', 'providers', 'randomSamplingPercentage', 'disableSpanReporting', 'useRequestIdForTraceSampling', 'enableIstioTags'];
const TRACING_UNSUPPORTED = ['customTags'];
const ACCESS_LOG_FIELDS = ['match', 'providers', 'disabled'];
const ACCESS_LOG_UNSUPPORTED = ['filter'];
const MODES: readonly TelemetryMode[] = ['CLIENT', 'SERVER', 'CLIENT_AND_SERVER'];

export function readTelemetry(doc: Fields, origin: Origin): ParsedTelemetry | undefined {
  const meta = readMetadata(doc, []);
  const spec = doc.object('spec', SPEC_FIELDS, { unsupported: SPEC_UNSUPPORTED });
  const selector = spec && readPolicySelector(spec);
  let ok = true;
  const tracing: TelemetryTracing[] = [];
  for (const item of spec?.list('tracing') ?? []) {
    const t = readTracing(spec!, item.path, item.value);
    if (t === undefined) ok = false;
    else tracing.push(t);
  }
  const accessLogging: TelemetryAccessLog[] = [];
  for (const item of spec?.list('accessLogging') ?? []) {
    const a = readAccessLog(spec!, item.path, item.value);
    if (a === undefined) ok = false;
    else accessLogging.push(a);
  }
  if (meta === undefined || !ok) return undefined;
  return { kind: 'Telemetry', origin, policy: { name: meta.name, namespace: meta.namespace, selector, tracing, accessLogging } };
}

/** `match: {mode}`; CLIENT_AND_SERVER when absent. */
function readMode(f: Fields): TelemetryMode | undefined {
  const m = f.object('match', ['mode']);
  if (m === undefined) return f.has('match') ? undefined : 'CLIENT_AND_SERVER';
  return m.has('mode') ? m.choice('mode', MODES) : 'CLIENT_AND_SERVER';
}

/** `providers: [{name}]`: read for typos only (one exporter and one log per agent). */
function readProviders(f: Fields): boolean {
  let ok = true;
  for (const p of f.list('providers') ?? []) {
    const o = openAt(f, p.path, p.value, ['name']);
    if (o === undefined || o.string('name', { required: true }) === undefined) ok = false;
  }
  return ok;
}

function openAt(f: Fields, path: string, value: unknown, known: readonly string[], unsupported: readonly string[] = []): Fields | undefined {
  return Fields.open(f.sink, path, value, known, unsupported);
}

function readTracing(spec: Fields, path: string, value: unknown): TelemetryTracing | undefined {
  const t = openAt(spec, path, value, TRACING_FIELDS, TRACING_UNSUPPORTED);
  if (t === undefined) return undefined;
  const mode = readMode(t);
  const providers = readProviders(t);
  const pct = numberIn(t, 'randomSamplingPercentage', 0, 100);
  const disable = bool(t, 'disableSpanReporting');
  const byRequestId = bool(t, 'useRequestIdForTraceSampling');
  // Istio's default (true) is what spans always carry; turning the istio.* attributes off is not offered.
  const istioTags = bool(t, 'enableIstioTags');
  if (istioTags === false) t.report('enableIstioTags', 'false is not supported: spans always carry the istio.* attributes; leave it out or set true');
  const bad = istioTags === false || (t.has('enableIstioTags') && istioTags === undefined) || mode === undefined || !providers || (t.has('randomSamplingPercentage') && pct === undefined) ||
    (t.has('disableSpanReporting') && disable === undefined) || (t.has('useRequestIdForTraceSampling') && byRequestId === undefined);
  if (bad) return undefined;
  return { mode, ...(pct !== undefined ? { randomSamplingPercentage: pct } : {}), ...(disable !== undefined ? { disableSpanReporting: disable } : {}) };
}

function readAccessLog(spec: Fields, path: string, value: unknown): TelemetryAccessLog | undefined {
  const a = openAt(spec, path, value, ACCESS_LOG_FIELDS, ACCESS_LOG_UNSUPPORTED);
  if (a === undefined) return undefined;
  const mode = readMode(a);
  const providers = readProviders(a);
  const disabled = bool(a, 'disabled');
  if (mode === undefined || !providers || (a.has('disabled') && disabled === undefined)) return undefined;
  return { mode, ...(disabled !== undefined ? { disabled } : {}) };
}

type Report = (o: Origin, field: string, message: string, to?: ConfigIssue[]) => void;

/**
 * Istio applies one namespace-wide (or mesh-wide) Telemetry per namespace, the oldest. A config has no
 * creation times to tell which that is, so a second one is refused rather than guessed between.
 */
export function checkTelemetryScopes(parsed: readonly Parsed[], report: Report): void {
  const wide = new Map<string, Origin>();
  for (const p of parsed) {
    if (p.kind !== 'Telemetry' || p.policy.selector !== undefined) continue;
    const ns = p.policy.namespace;
    const first = wide.get(ns);
    const scope = ns === ROOT_NAMESPACE ? 'mesh-wide' : `namespace-wide (namespace ${ns})`;
    if (first === undefined) wide.set(ns, p.origin);
    else report(p.origin, 'metadata.name', `a second ${scope} Telemetry: Telemetry ${first.name} (${first.file} document ${first.document}) is one already; Istio would apply only the older, keep one`);
  }
}
