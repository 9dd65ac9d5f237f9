// The main thread's default metrics without prom-client's index: the same series as prom-client's
// collectDefaultMetrics (names, help, types, labels), CPU counted the same way, and neither the index nor
// @opentelemetry/api loaded by them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as prom from 'prom-client';
import { collectDefaultMetrics } from '../../../src/telemetry/promdefaults';

/** name → [type, help, label names] of every metric of a registry, in registration order. */
async function shape(r: prom.Registry): Promise<[string, string, string, string[]][]> {
  const json = await r.getMetricsAsJSON();
  return json.map((m) => [m.name, String(m.type), m.help, [...new Set(m.values.flatMap((v) => Object.keys(v.labels)))].sort()]);
}

describe('promdefaults', () => {
  it('registers what prom-client collectDefaultMetrics registers, in the same order', async () => {
    const theirs = new prom.Registry();
    prom.collectDefaultMetrics({ register: theirs });
    const ours = new prom.Registry();
    collectDefaultMetrics({ register: ours });
    const [a, b] = [await shape(theirs), await shape(ours)];
    assert.deepEqual(b.map((m) => m[0]), a.map((m) => m[0]));
    // Label names of series with values (the GC histogram has none before a collection, which may differ).
    assert.deepEqual(b.map(([n, t, h]) => [n, t, h]), a.map(([n, t, h]) => [n, t, h]));
  });

  it('counts CPU seconds: user + system = total, and they only grow', async () => {
    const r = new prom.Registry();
    collectDefaultMetrics({ register: r });
    const read = async (): Promise<Record<string, number>> => {
      const out: Record<string, number> = {};
      for (const m of await r.getMetricsAsJSON()) if (m.name.startsWith('process_cpu_')) out[m.name] = m.values[0]?.value ?? NaN;
      return out;
    };
    const first = await read();
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += i % 7;
    assert.ok(x > 0);
    const second = await read();
    for (const k of ['process_cpu_user_seconds_total', 'process_cpu_system_seconds_total', 'process_cpu_seconds_total']) {
      assert.ok((second[k] as number) >= (first[k] as number), k);
    }
    const sum = (second.process_cpu_user_seconds_total as number) + (second.process_cpu_system_seconds_total as number);
    assert.ok(Math.abs(sum - (second.process_cpu_seconds_total as number)) < 1e-6);
  });

  it('loads neither prom-client index nor @opentelemetry/api', () => {
    const file = path.resolve(__dirname, '../../../src/telemetry/promdefaults.js');
    const script = `const { collectDefaultMetrics } = require(${JSON.stringify(file)});
      collectDefaultMetrics({ register: new (require('prom-client/lib/registry'))() });
      const k = Object.keys(require.cache);
      process.stdout.write(JSON.stringify({ index: k.some((f) => /prom-client[\\\\/]index\\.js$/.test(f)), otel: k.some((f) => f.includes('@opentelemetry')) }));
      process.exit(0);`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(r.stdout), { index: false, otel: false }, r.stderr);
  });
});
