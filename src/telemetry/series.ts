// Hot-path metric primitives. prom-client hashes and validates every label set on every inc/observe,
// which costs microseconds with Istio's 25 labels. Here a caller resolves a series once (per connection
// or per endpoint and status) and then only adds numbers; formatting stays prom-client's, at scrape time.
import type { Metric, Registry } from 'prom-client';

export type Labels = Readonly<Record<string, string>>;

interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface ExportedMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: ExportedValue[];
  aggregator: 'sum';
}

export class CounterSeries {
  value = 0;
  /** Set when the series is dropped (its service left the config): holders resolve it again. */
  retired = false;
  constructor(readonly labels: Labels) {}
  inc(n = 1): void {
    this.value += n;
  }
}

export class HistogramSeries {
  /** Non-cumulative counts per bucket; the last slot is +Inf. Cumulated at scrape time. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  retired = false;
  constructor(readonly labels: Labels, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]! += 1;
    this.sum += v;
    this.count++;
  }
}

abstract class SeriesMetric<S extends { labels: Labels; retired: boolean }> {
  readonly aggregator = 'sum';
  protected readonly series = new Map<string, S>();
  constructor(readonly name: string, readonly help: string) {}

  /** The series for a label set; `key` must identify `labels` uniquely (callers cache the result). */
  at(key: string, labels: Labels): S {
    let s = this.series.get(key);
    if (s === undefined) {
      s = this.create(labels);
      this.series.set(key, s);
    }
    return s;
  }

  /** What prom-client's Registry reads at scrape time. */
  get(): Promise<ExportedMetric> {
    return Promise.resolve(this.export());
  }

  reset(): void {
    this.series.clear();
  }

  /** Drops the series `keep` says no to (marking them retired); returns how many were dropped. */
  retain(keep: (labels: Labels) => boolean): number {
    let dropped = 0;
    for (const [key, s] of this.series) {
      if (keep(s.labels)) continue;
      s.retired = true;
      this.series.delete(key);
      dropped++;
    }
    return dropped;
  }

  /** Number of series (for tests and cardinality stats). */
  size(): number {
    return this.series.size;
  }

  /** The live series, as a scrape would export them (the admin API sums them without text). */
  all(): IterableIterator<S> {
    return this.series.values();
  }

  register(registry: Registry): this {
    // The registry only needs name/help/type/get/reset; prom-client's types list its own classes only.
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  protected abstract create(labels: Labels): S;
  protected abstract export(): ExportedMetric;
}

export class SeriesCounter extends SeriesMetric<CounterSeries> {
  readonly type = 'counter';
  protected create(labels: Labels): CounterSeries {
    return new CounterSeries(labels);
  }
  protected export(): ExportedMetric {
    const values: ExportedValue[] = [];
    for (const s of this.series.values()) values.push({ labels: { ...s.labels }, value: s.value });
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' };
  }
}

export class SeriesHistogram extends SeriesMetric<HistogramSeries> {
  readonly type = 'histogram';
  constructor(name: string, help: string, readonly buckets: readonly number[]) {
    super(name, help);
  }
  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.buckets);
  }
  protected export(): ExportedMetric {
    const values: ExportedValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { ...s.labels, le: this.buckets[i]! }, value: acc, metricName: bucketName });
      }
      acc += s.counts[this.buckets.length]!;
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: acc, metricName: bucketName });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }
}
