// Tracing for the L7 engine: per request, the trace context (tracecontext.ts), the sampling decision
// (the environment's sampler, or a Telemetry's randomSamplingPercentage for the workload), whether a
// span is reported and whether the access log line is written. Finished spans go to the OTLP exporter.
// Without an exporter nothing is sampled or recorded: requests only get their trace fields.
import type { Registry } from 'prom-client';
import type { TelemetryPolicy } from '../config/model';
import { CATALOG } from '../errors';
import { logger } from '../log';
import { OtlpExporter, traceCounters } from './exporter';
import type { ExportInfo, SpanRecord } from './otlp';
import { decideTelemetry, NO_TELEMETRY, type Side, type TelemetryDecision, type WorkloadRef } from './policy';
import { DEFAULT_SAMPLER, otlpSettings, ratioKeeps, sample, type Sampler } from './sampler';
import { extractFields, newTraceId, propagate, type HopContext, type TraceEdits } from './tracecontext';

const log = logger('trace');

/** Where finished spans go (OtlpExporter; tests pass their own). */
export interface SpanSink {
  /** Room for one more span (false: it is counted dropped and not built); absent = always. */
  admit?(): boolean;
  add(span: SpanRecord): void;
  close?(): void;
}

/** One request's tracing state, made by Tracing.begin and carried to the record. */
export interface RequestTrace {
  readonly tracing: Tracing;
  readonly side: Side;
  readonly context: HopContext;
  /** The upstream request's trace fields; undefined = as they came. */
  readonly edits: TraceEdits | undefined;
  /** This hop reports a span. */
  readonly recorded: boolean;
  /** A Telemetry turned the access log off for this workload and side. */
  readonly accessLogOff: boolean;
  /** The workload this side reports for (the span's own workload when no endpoint was tried, e.g. a denial). */
  readonly workload: TracedWorkload | undefined;
}

/** A workload as a span names it: a client's SourceInfo or a destination pod's Endpoint. */
export interface TracedWorkload extends WorkloadRef {
  readonly workload?: string | undefined;
}

export interface TracingOptions {
  readonly sampler?: Sampler;
  readonly sink?: SpanSink;
  /** OTEL_SERVICE_NAME: every span's service.name (else the workload's canonical service and namespace). */
  readonly serviceName?: string;
  /** Envoy's node_id attribute: this agent. */
  readonly nodeId?: string;
}

export class Tracing {
  readonly sampler: Sampler;
  readonly sink: SpanSink | undefined;
  readonly serviceName: string | undefined;
  readonly nodeId: string;
  private policies: readonly TelemetryPolicy[] = [];
  // Decisions per workload object (SourceInfo, Endpoint: one object per workload and config).
  private client = new WeakMap<object, TelemetryDecision>();
  private server = new WeakMap<object, TelemetryDecision>();

  constructor(opts: TracingOptions = {}) {
    this.sampler = opts.sampler ?? DEFAULT_SAMPLER;
    this.sink = opts.sink;
    this.serviceName = opts.serviceName;
    this.nodeId = opts.nodeId ?? 'nodemesh';
  }

  /** The config's Telemetry documents (on every apply). */
  setPolicies(list: readonly TelemetryPolicy[] | undefined): void {
    this.policies = list ?? [];
    this.client = new WeakMap();
    this.server = new WeakMap();
  }

  decision(side: Side, wl: WorkloadRef | undefined): TelemetryDecision {
    if (this.policies.length === 0) return NO_TELEMETRY;
    if (wl === undefined) return decideTelemetry(this.policies, side, undefined);
    const cache = side === 'CLIENT' ? this.client : this.server;
    let d = cache.get(wl);
    if (d === undefined) cache.set(wl, (d = decideTelemetry(this.policies, side, wl)));
    return d;
  }

  /** A request's tracing, from its fields (HEADER) and the workload whose side reports it. */
  begin(header: (name: string) => string | undefined, side: Side, wl: TracedWorkload | undefined): RequestTrace {
    const { incoming, present, sampled: bare } = extractFields(header);
    const d = this.decision(side, wl);
    const traceId = incoming?.traceId ?? newTraceId();
    // The caller's decision: its context's, or a bare B3 sampling state (`b3: 0`) that came without one.
    const parent = incoming !== undefined ? incoming.sampled : bare;
    let sampled: boolean;
    if (this.sink === undefined) sampled = parent ?? false;
    else if (d.samplingPercent !== undefined) sampled = parent ?? ratioKeeps(d.samplingPercent / 100, traceId);
    else sampled = sample(this.sampler, parent, traceId);
    const recorded = sampled && this.sink !== undefined && !d.disableSpanReporting;
    const tracestate = recorded && incoming !== undefined ? header('tracestate') : undefined;
    const p = propagate(incoming, sampled, recorded, tracestate, traceId, incoming === undefined && present);
    return { tracing: this, side, context: p.context, edits: p.edits, recorded, accessLogOff: d.accessLogDisabled, workload: wl };
  }

  /** Whether a finished recorded request's span is wanted now (the exporter's buffer has room). */
  admit(): boolean {
    const s = this.sink;
    return s !== undefined && (s.admit?.() ?? true);
  }

  report(span: SpanRecord): void {
    this.sink?.add(span);
  }

  close(): void {
    this.sink?.close?.();
  }
}

const VERSION = '1';

/**
 * The tracing of the environment's OTEL_* variables: an OTLP/HTTP exporter when an endpoint is named,
 * with the counters on REGISTRY (registered either way, so dashboards find them).
 */
export function tracingFromEnv(env: Readonly<Record<string, string | undefined>>, registry: Registry | undefined, nodeId: string, resource: ExportInfo['resource'] = []): Tracing {
  if (registry !== undefined) traceCounters(registry);
  const { settings, problems } = otlpSettings(env);
  for (const p of problems) log.warn({ code: CATALOG.TRACE_SETTING.code, problem: p }, CATALOG.TRACE_SETTING.message);
  if (settings.url === undefined) return new Tracing({ sampler: settings.sampler, nodeId, ...(settings.serviceName !== undefined ? { serviceName: settings.serviceName } : {}) });
  const sink = new OtlpExporter({
    url: settings.url,
    headers: settings.headers,
    timeoutMs: settings.timeoutMs,
    ...(registry !== undefined ? { registry } : {}),
    info: { scopeName: 'nodemesh', scopeVersion: VERSION, resource },
  });
  log.info({ endpoint: settings.url, sampler: settings.sampler }, 'exporting spans over OTLP/HTTP');
  return new Tracing({ sampler: settings.sampler, sink, nodeId, ...(settings.serviceName !== undefined ? { serviceName: settings.serviceName } : {}) });
}

let processTracing = new Tracing();

/** The process's tracing, which engines use unless given their own (the agent sets it at start). */
export function currentTracing(): Tracing {
  return processTracing;
}

export function setProcessTracing(t: Tracing): void {
  if (t !== processTracing) processTracing.close();
  processTracing = t;
}
