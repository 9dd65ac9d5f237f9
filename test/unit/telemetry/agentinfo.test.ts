// The agent's process metrics, istio_build and node facts: registered once per registry, facts turned
// into labels and numbers, and a failed read leaves no series behind (never zeros, never a throw).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { agentVersion, collectNodeFacts, cpuBrand, cpuModelLine, distroRelease, factsFrom, osReleaseFields, registerProcessMetrics } from '../../../src/telemetry/agentinfo';

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

  it('reads distribution and release from os-release files', () => {
    const cases: [string, { distro?: string; release?: string }][] = [
      ['PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\n', { distro: 'Debian GNU/Linux', release: '12' }],
      ['NAME="Ubuntu"\nVERSION="22.04.3 LTS (Jammy Jellyfish)"\nPRETTY_NAME="Ubuntu 22.04.3 LTS"\nVERSION_ID="22.04"\n', { distro: 'Ubuntu', release: '22.04.3 LTS' }],
      ['NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n', { distro: 'Alpine Linux', release: 'v3.20' }],
      ['NAME=Fedora Linux\nVERSION="40 (Container Image)"\nVERSION_ID=40\n', { distro: 'Fedora Linux', release: '40' }],
      ['NAME="Distroless"\nVERSION_ID=1\n', { distro: 'Distroless', release: '1' }],
      ['', { distro: undefined, release: undefined }],
    ];
    for (const [text, want] of cases) assert.deepEqual(distroRelease(osReleaseFields(text)), want, text);
  });

  it('splits CPU model lines into manufacturer and brand', () => {
    const cases: [string, { manufacturer?: string; brand?: string }][] = [
      ['Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz', { manufacturer: 'Intel', brand: 'Xeon® Platinum 8375C' }],
      ['AMD EPYC 7B13 64-Core Processor', { manufacturer: 'AMD', brand: 'EPYC 7B13 64-Core Processor' }],
      ['AMD EPYC', { manufacturer: 'AMD', brand: 'EPYC' }],
      ['QEMU Virtual CPU version 2.5+', { manufacturer: 'QEMU', brand: 'Virtual version 2.5+' }],
      ['Neoverse-N1', { manufacturer: 'Neoverse-N1', brand: '' }],
      ['', {}],
    ];
    for (const [line, want] of cases) assert.deepEqual(cpuBrand(line), want, line);
    assert.equal(cpuModelLine('processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Core(TM) i7\n', 'x'), 'Intel(R) Core(TM) i7');
    assert.equal(cpuModelLine('processor\t: 0\nBogoMIPS\t: 50.00\n', 'Neoverse-N1'), 'Neoverse-N1');
    assert.equal(cpuModelLine('', undefined), '');
  });

  it('reads this machine from /etc/os-release, /proc/cpuinfo and the os module', async () => {
    const r = new Registry();
    assert.equal(await collectNodeFacts(r), true);
    const text = await r.metrics();
    assert.match(text, /^nodemesh_node_info\{os="linux",.*kernel="[^"]+".*\} 1$/m);
    assert.match(text, /^nodemesh_node_cpus [1-9]\d*$/m);
  });
});
