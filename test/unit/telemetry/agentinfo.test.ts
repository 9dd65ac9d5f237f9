// The agent's process metrics, istio_build and node facts: registered once per registry, facts turned
// into labels and numbers, and a failed read leaves no series behind (never zeros, never a throw).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { agentVersion, collectNodeFacts, factsFrom, registerProcessMetrics } from '../../../src/telemetry/agentinfo';

describe('agent info', () => {
  it('registers prom-client default metrics and istio_build once per registry', async () => {
    const r = new Registry();
    registerProcessMetrics(r, '1.2.3');
    registerProcessMetrics(r, '1.2.3');
    const text = await r.metrics();
    for (const n of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) assert.match(text, new RegExp(`^${n} `, 'm'), n);
    assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
    assert.match(text, /^istio_build\{component="nodemesh",tag="1\.2\.3"\} 1$/m);
  });

  it('reads the version from package.json, "unknown" without one', () => {
    assert.match(agentVersion(), /^\d+\.\d+\.\d+/);
  });

  it('turns the library answers into labels and numbers; missing values are "unknown" or left out', () => {
    const f = factsFrom(
      { platform: 'linux', distro: 'Debian GNU/Linux', release: '12', kernel: '6.1.0', arch: 'x64', hostname: 'node-a' },
      { manufacturer: 'AMD', brand: 'EPYC', cores: 8 },
      { total: 1024 },
    );
    assert.deepEqual(f, {
      info: { os: 'linux', distro: 'Debian GNU/Linux', release: '12', kernel: '6.1.0', arch: 'x64', cpu_model: 'AMD EPYC', hostname: 'node-a' },
      cpus: 8,
      memoryBytes: 1024,
    });
    const empty = factsFrom({ kernel: ' ' }, {}, {});
    assert.equal(empty.info.kernel, 'unknown');
    assert.equal(empty.info.cpu_model, 'unknown');
    assert.equal(empty.cpus, 0);
  });

  it('exports the facts once read', async () => {
    const r = new Registry();
    assert.equal(await collectNodeFacts(r, async () => factsFrom({ platform: 'linux', kernel: '6.1.0' }, { brand: 'Xeon', cores: 4 }, { total: 2048 })), true);
    const text = await r.metrics();
    assert.match(text, /^nodemesh_node_info\{os="linux",distro="unknown",release="unknown",kernel="6\.1\.0",arch="unknown",cpu_model="Xeon",hostname="unknown"\} 1$/m);
    assert.match(text, /^nodemesh_node_cpus 4$/m);
    assert.match(text, /^nodemesh_node_memory_bytes 2048$/m);
  });

  it('a failed read is not fatal and leaves no fact series (not even zeros)', async () => {
    const r = new Registry();
    assert.equal(await collectNodeFacts(r, () => Promise.reject(new Error('EACCES'))), false);
    assert.doesNotMatch(await r.metrics(), /nodemesh_node_/);
  });

  it('reads this machine through systeminformation', async () => {
    const r = new Registry();
    assert.equal(await collectNodeFacts(r), true);
    const text = await r.metrics();
    assert.match(text, /^nodemesh_node_info\{os="linux",.*kernel="[^"]+".*\} 1$/m);
    assert.match(text, /^nodemesh_node_cpus [1-9]\d*$/m);
  });
});
