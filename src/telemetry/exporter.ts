// OTLP/HTTP span export: POST {endpoint}/v1/traces with an application/x-protobuf body. Requests never
// wait for it: finished spans go into a bounded buffer (a full buffer drops the span and counts it),
// a timer sends a batch every second or as soon as a batch is full, one request at a time, each with a
// timeout. A failed send drops its batch (counted) and backs off, doubling up to 30 s, so a collector
// that is down or never answers costs the buffer and a counter, never more memory.
import http from 'node:http';
import https from 'node:https';
import { Counter, type Registry } from './promlite';
import { CATALOG } from '../errors';
import { logger } from '../log';
import { encodeExport, type ExportInfo, type SpanRecord } from './otlp';

const log = logger('trace');

export interface ExporterOptions {
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  /** Spans held at most (default 2048); more are dropped. */
  readonly maxQueue?: number;
  /** Spans per request (default 512). */
  readonly batch?: number;
  /** Send interval (default 1 s). */
  readonly intervalMs?: number;
  readonly registry?: Registry;
  readonly info: ExportInfo;
}

export interface TraceCounters {
  readonly exported: Counter<string>;
  readonly dropped: Counter<'reason'>;
}

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  return (registry.getSingleMetric(name) as Counter<string> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

/** The exporter's counters on REGISTRY (registered once; the agent registers them even without an exporter). */
export function traceCounters(registry: Registry): TraceCounters {
  const dropped = counter(registry, 'nodemesh_trace_spans_dropped_total', 'Spans not exported, by reason: queue_full (the buffer was full), export_failed (the collector refused, failed or timed out)', ['reason']);
  // Both reasons from the start, at 0: a rate() or an alert on them has a series before the first drop.
  for (const reason of ['queue_full', 'export_failed']) dropped.inc({ reason }, 0);
  return {
    exported: counter(registry, 'nodemesh_trace_spans_exported_total', 'Spans the OTLP collector accepted', []),
    dropped,
  };
}

const MAX_BACKOFF_MS = 30_000;

export class OtlpExporter {
  private queue: SpanRecord[] = [];
  private sending = false;
  private backoffMs = 0;
  private nextSendAt = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly counters: TraceCounters | undefined;
  private readonly maxQueue: number;
  private readonly batch: number;
  private closed = false;
  /** Counts kept here as well, for callers without a registry. */
  readonly stats = { exported: 0, dropped: 0, failures: 0 };

  constructor(private readonly opts: ExporterOptions) {
    this.url = new URL(opts.url);
    const secure = this.url.protocol === 'https:';
    this.agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 1 }) : new http.Agent({ keepAlive: true, maxSockets: 1 });
    this.counters = opts.registry !== undefined ? traceCounters(opts.registry) : undefined;
    this.maxQueue = opts.maxQueue ?? 2048;
    this.batch = opts.batch ?? 512;
    this.timer = setInterval(() => this.tick(), opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Spans waiting to be sent. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Room for one more span? False counts it dropped: a full buffer (a collector that is down) costs
   * no span building at all.
   */
  admit(): boolean {
    if (this.closed) return false;
    if (this.queue.length < this.maxQueue) return true;
    this.drop('queue_full', 1);
    return false;
  }

  /** Takes a finished span; never blocks, never throws. */
  add(span: SpanRecord): void {
    if (this.closed) return;
    if (this.queue.length >= this.maxQueue) return this.drop('queue_full', 1);
    this.queue.push(span);
    if (this.queue.length >= this.batch && !this.sending && Date.now() >= this.nextSendAt) setImmediate(() => this.tick());
  }

  private drop(reason: 'queue_full' | 'export_failed', n: number): void {
    this.stats.dropped += n;
    this.counters?.dropped.inc({ reason }, n);
  }

  private tick(): void {
    if (this.sending || this.queue.length === 0 || Date.now() < this.nextSendAt) return;
    const spans = this.queue.length <= this.batch ? this.queue : this.queue.slice(0, this.batch);
    this.queue = spans === this.queue ? [] : this.queue.slice(this.batch);
    let body: Buffer;
    try {
      body = encodeExport(spans, this.opts.info);
    } catch (err) {
      log.error({ err }, 'span encoding failed');
      return this.drop('export_failed', spans.length);
    }
    this.sending = true;
    this.post(body).then(
      () => {
        this.sending = false;
        this.backoffMs = 0;
        this.nextSendAt = 0;
        this.stats.exported += spans.length;
        this.counters?.exported.inc(spans.length);
        if (this.queue.length >= this.batch) setImmediate(() => this.tick());
      },
      (err: Error) => {
        this.sending = false;
        this.stats.failures++;
        this.drop('export_failed', spans.length);
        this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs === 0 ? 1000 : this.backoffMs * 2);
        this.nextSendAt = Date.now() + this.backoffMs;
        log.warn({ code: CATALOG.TRACE_EXPORT.code, err: err.message, spans: spans.length, retryInMs: this.backoffMs }, CATALOG.TRACE_EXPORT.message);
      },
    );
  }

  private post(body: Buffer): Promise<void> {
    const u = this.url;
    const mod = u.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        {
          agent: this.agent,
          method: 'POST',
          hostname: u.hostname.replace(/^\[|\]$/g, ''),
          port: u.port === '' ? undefined : Number(u.port),
          path: `${u.pathname}${u.search}`,
          headers: { ...this.opts.headers, 'content-type': 'application/x-protobuf', 'content-length': String(body.length) },
          timeout: this.opts.timeoutMs ?? 10_000,
        },
        (res) => {
          // The response body (an ExportTraceServiceResponse or a Status) is read and dropped.
          res.resume();
          res.on('end', () => {
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300) resolve();
            else reject(new Error(`collector answered ${code}`));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('collector did not answer in time')));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Stops the timer and drops what is queued (spans are best effort). */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.queue = [];
    this.agent.destroy();
  }
}
