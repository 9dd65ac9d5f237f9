// The discovery scale bench's pure parts: the generated cluster (and that the agent's own trimming reads
// it as meant), the changes it makes, percentiles, decoding of nm_backends and metrics, and the report.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backendVal } from '../../../src/capture/layout';
import { trimObject } from '../../../src/discovery/trim';
import type { KEndpointSlice, KPod, KService } from '../../../src/discovery/objects';
import {
  clusterIP, clusterObjects, extraIP, ipAt, podIP, podObject, pods, serviceObject, sliceObject, type ClusterSpec,
} from '../../../bench/discovery-cluster';
import { decodeBackends, metricValue, percentile } from '../../../bench/discovery-probe';
import { formatFindings, perPod, type Findings } from '../../../bench/discovery-report';

const spec = (shape: ClusterSpec['shape']): ClusterSpec => ({ nodes: 3, namespaces: 4, services: 6, podsPerService: 5, kernelServices: 2, shape });

describe('ipAt', () => {
  it('counts from a.b.0.0 across octets', () => {
    const table: [number, number, number, string][] = [
      [10, 128, 1, '10.128.0.1'],
      [10, 128, 256, '10.128.1.0'],
      [10, 128, 65_536, '10.129.0.0'],
      [10, 96, 10_000, '10.96.39.16'],
    ];
    for (const [a, b, n, want] of table) assert.equal(ipAt(a, b, n), want);
  });

  it('keeps pod IPs, cluster IPs and added endpoints apart at full scale', () => {
    const c: ClusterSpec = { nodes: 100, namespaces: 50, services: 10_000, podsPerService: 10, kernelServices: 4, shape: 'minimal' };
    assert.equal(podIP(c, 9_999, 9), '10.129.134.160');
    assert.equal(clusterIP(9_999), '10.96.39.16');
    assert.equal(extraIP(0), '10.200.0.1');
  });
});

describe('clusterObjects', () => {
  for (const shape of ['minimal', 'typical'] as const) {
    it(`builds every object once, half the namespaces opted in (${shape})`, () => {
      const c = spec(shape);
      const objs = [...clusterObjects(c)];
      const count = (kind: string): number => objs.filter((o) => o.kind === kind).length;
      assert.deepEqual([count('Node'), count('Namespace'), count('Service'), count('EndpointSlice'), count('Pod')], [3, 4, 6, 6, pods(c)]);
      const ambient = objs.filter((o) => o.kind === 'Namespace' && o.metadata?.labels?.['istio.io/dataplane-mode'] === 'ambient');
      assert.equal(ambient.length, 2);
      const kernel = objs.filter((o) => o.kind === 'Service' && o.metadata?.labels?.['nodemesh.io/dataplane'] === 'kernel');
      assert.deepEqual(kernel.map((o) => o.metadata?.name), ['svc-0', 'svc-1']);
      const names = objs.map((o) => `${o.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name}`);
      assert.equal(new Set(names).size, names.length);
    });

    it(`gives objects the agent's trimming reads as meant (${shape})`, () => {
      const c = spec(shape);
      const p = trimObject('Pod', podObject(c, 3, 2));
      assert.ok('ok' in p, JSON.stringify(p));
      const pod = p.ok as KPod;
      assert.deepEqual([pod.meta.namespace, pod.node, pod.ips, pod.workload, pod.serviceAccount], ['ns-3', 'node-2', [podIP(c, 3, 2)], 'svc-3', 'svc-3']);
      const s = trimObject('Service', serviceObject(c, 1));
      assert.ok('ok' in s);
      const svc = s.ok as KService;
      assert.deepEqual([svc.clusterIPs, svc.ports.map((x) => [x.name, x.port, x.targetPort]), svc.meta.labels['nodemesh.io/dataplane']], [[clusterIP(1)], [['http', 80, 8080]], 'kernel']);
      const e = trimObject('EndpointSlice', sliceObject(c, 3));
      assert.ok('ok' in e);
      const slice = e.ok as KEndpointSlice;
      assert.equal(slice.service, 'svc-3');
      assert.equal(slice.endpoints.length, 5);
      assert.ok(slice.endpoints.every((x) => x.ready && x.pod?.namespace === 'ns-3'));
    });
  }
});

describe('sliceObject changes', () => {
  const c = spec('typical');
  const addrs = (o: unknown): [string, boolean][] =>
    (o as { endpoints: { addresses: string[]; conditions: { ready: boolean } }[] }).endpoints.map((e) => [e.addresses[0]!, e.conditions.ready]);

  it('adds one endpoint at its own address', () => {
    const got = addrs(sliceObject(c, 0, { extra: { ip: extraIP(7), name: 'extra-7' } }));
    assert.equal(got.length, 6);
    assert.deepEqual(got[5], ['10.200.0.8', true]);
  });

  it('takes one endpoint out of ready, and the unchanged slice back is the original', () => {
    const got = addrs(sliceObject(c, 2, { notReady: 4 }));
    assert.deepEqual(got.map(([, r]) => r), [true, true, true, true, false]);
    assert.deepEqual(sliceObject(c, 2), sliceObject(c, 2, {}));
  });
});

describe('percentile', () => {
  it('is the nearest rank', () => {
    const xs = Array.from({ length: 200 }, (_, i) => 200 - i);
    const table: [number, number | undefined][] = [[50, 100], [99, 198], [100, 200], [0, 1]];
    for (const [p, want] of table) assert.equal(percentile(xs, p), want);
    assert.equal(percentile([], 50), undefined);
    assert.equal(percentile([7], 99), 7);
  });
});

describe('decodeBackends', () => {
  it('reads nm_backends values as ip:port', () => {
    const values = Buffer.concat([backendVal({ address: '10.128.0.1', port: 8080 }), backendVal({ address: '10.200.0.3', port: 80 })]);
    assert.deepEqual(decodeBackends(values, 2), ['10.128.0.1:8080', '10.200.0.3:80']);
    assert.deepEqual(decodeBackends(values, 0), []);
  });
});

describe('metricValue', () => {
  it('reads an unlabelled sample, not a longer name', () => {
    const text = '# HELP x\nnodemesh_discovery_synced_total 5\nnodemesh_discovery_synced 1\n';
    assert.equal(metricValue(text, 'nodemesh_discovery_synced'), 1);
    assert.equal(metricValue(text, 'nodemesh_missing'), undefined);
  });
});

describe('report', () => {
  const base = (): Findings => ({
    cluster: { nodes: 100, namespaces: 50, services: 10_000, pods: 100_000, endpoints: 100_000, kernelServices: 4, shape: 'typical' },
    lists: [],
    sync: { readyMs: 2500 },
    rss: { emptyKb: 100_000, settledKb: 150_000 },
    notes: [],
  });

  it('gives RSS per pod in bytes, and the part the objects add', () => {
    assert.deepEqual(perPod(base()), { total: 1536, marginal: 512 });
    assert.deepEqual(perPod({ ...base(), rss: {} }), {});
  });

  it('puts the goals beside the figures and says which were missed', () => {
    const f = base();
    f.latency = { wanted: 200, samples: [{ kind: 'add', service: 0, ms: 80 }], p50Ms: 80, p99Ms: 80, byKind: { add: { n: 1, p50Ms: 80, p99Ms: 80 } }, stoppedEarly: 'time budget' };
    const out = formatFindings(f);
    assert.match(out, /agent start → ready \(\/healthz\/ready\)\s+2\.50 s\s+< 3 s\s+met/);
    assert.match(out, /RSS per pod\s+1\.50 KB\s+≤ 2 KB\s+met/);
    assert.match(out, /change → nm_backends p99\s+80 ms\s+< 50 ms\s+MISSED/);
    assert.match(out, /latency: time budget/);
    assert.match(out, /anchor: ztunnel/);
  });

  it('says what was not measured', () => {
    const out = formatFindings({ ...base(), sync: {}, rss: {}, unavailable: 'agent not built' });
    assert.match(out, /agent not measured: agent not built/);
    assert.doesNotMatch(out, /MISSED/);
  });
});
