// The metric classes a proxy worker loads without prom-client's index are the index's own classes: a
// metric made from either registers, collects and prints the same, and the index is not loaded by them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as prom from 'prom-client';
import { Counter, Gauge, Registry } from '../../../src/telemetry/promlite';

describe('promlite', () => {
  it('exports the classes of prom-client itself', () => {
    assert.equal(Counter, prom.Counter);
    assert.equal(Gauge, prom.Gauge);
    assert.equal(Registry, prom.Registry);
  });

  it('metrics made from it scrape as prom-client metrics', async () => {
    const r = new Registry();
    new Counter({ name: 'lite_total', help: 'h', labelNames: ['k'], registers: [r] }).inc({ k: 'a' }, 2);
    new Gauge({ name: 'lite_gauge', help: 'h', registers: [r] }).set(5);
    const text = await r.metrics();
    assert.match(text, /^lite_total\{k="a"\} 2$/m);
    assert.match(text, /^lite_gauge 5$/m);
  });

  it('does not load the index (default metrics, Pushgateway, @opentelemetry/api)', () => {
    const file = path.resolve(__dirname, '../../../src/telemetry/promlite.js');
    const script = `require(${JSON.stringify(file)}); const k = Object.keys(require.cache);
      process.stdout.write(JSON.stringify({ index: k.some((f) => /prom-client[\\\\/]index\\.js$/.test(f)), otel: k.some((f) => f.includes('@opentelemetry')) }));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(r.stdout), { index: false, otel: false }, r.stderr);
  });
});
