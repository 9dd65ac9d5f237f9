import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MeshConfig, Service } from '../../../src/config/model';
import { backendKey, CONFIG_FLAGS, configFlags, configVal, decodeConn, GLOBAL_COUNTERS, MODE, svcKey, tuple, withConfigFlags } from '../../../src/capture/layout';
import { planMaps, planMeshed } from '../../../src/capture/plan';

const svc = (over: Partial<Service>): Service => ({
  key: 'ns/s',
  id: 42,
  name: 's',
  namespace: 'ns',
  hosts: ['s.ns.svc.cluster.local'],
  addresses: ['10.96.0.1'],
  ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }],
  dataplane: 'proxy',
  endpoints: [],
  labels: {},
  ...over,
});
const ep = (address: string, ports: Record<string, number> = {}) => ({ address, ports, labels: {}, namespace: 'ns', serviceAccount: undefined, workload: undefined, node: undefined, weight: 1 });
const cfg = (...services: Service[]): MeshConfig => ({ services, workloads: [], nodes: [], peerAuthentications: [], authorizationPolicies: [], source: { files: [], hash: '' } });

test('planMaps: table of services → kernel map entries', () => {
  const cases: { name: string; config: MeshConfig; services: number; backends: number; check?: (p: ReturnType<typeof planMaps>) => void }[] = [
    { name: 'empty config', config: cfg(), services: 0, backends: 0 },
    { name: 'proxy service: one entry per VIP:port, its endpoints as the fallback backends', config: cfg(svc({ endpoints: [ep('10.0.0.1')] })), services: 1, backends: 1 },
    {
      name: 'two VIPs × two ports',
      config: cfg(svc({ addresses: ['10.96.0.1', '10.96.0.2'], ports: [{ number: 80, name: 'a', protocol: 'HTTP', targetPort: 80 }, { number: 81, name: 'b', protocol: 'TCP', targetPort: 81 }] })),
      services: 4,
      backends: 0,
    },
    {
      name: 'kernel service: backends per port with endpoint port overrides',
      config: cfg(svc({ dataplane: 'kernel', endpoints: [ep('10.0.0.1'), ep('10.0.0.2', { http: 9090 })] })),
      services: 1,
      backends: 2,
      check: (p) => {
        const [, v] = p.services.get(svcKey('10.96.0.1', 80).toString('hex'))!;
        assert.equal(v.readUInt32LE(0), 42);
        assert.equal(v.readUInt8(4), MODE.kernel);
        assert.equal(v.readUInt16LE(6), 2);
        const [, b0] = p.backends.get(backendKey(42, 80, 0).toString('hex'))!;
        const [, b1] = p.backends.get(backendKey(42, 80, 1).toString('hex'))!;
        assert.deepEqual([...b0.subarray(0, 4)], [10, 0, 0, 1]);
        assert.equal(b0.readUInt16LE(4), 8080, 'targetPort by default');
        assert.equal(b1.readUInt16LE(4), 9090, 'endpoint ports[name] wins');
      },
    },
  ];
  for (const c of cases) {
    const p = planMaps(c.config);
    assert.equal(p.services.size, c.services, c.name);
    assert.equal(p.backends.size, c.backends, c.name);
    c.check?.(p);
  }
});

test('layout: keys match the C structs byte for byte', () => {
  assert.equal(svcKey('10.96.0.1', 80).toString('hex'), '0a60000150000000');
  assert.equal(tuple({ address: '127.0.0.1', port: 40000 }, { address: '127.0.0.2', port: 15001 }).toString('hex'), '7f0000017f000002409c993a');
  assert.equal(tuple({ address: '::ffff:1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 }).subarray(0, 4).toString('hex'), '01020304');
  const conn = Buffer.from('0a600001' + '5000' + '00' + '00' + '2a000000' + '00000000', 'hex');
  assert.deepEqual(decodeConn(conn), { orig: { address: '10.96.0.1', port: 80 }, mode: 0, serviceId: 42 });
  assert.throws(() => svcKey('10.96.0', 80), /not an IPv4/);
  assert.throws(() => svcKey('10.96.0.300', 80), /not an IPv4/);
});

test('planMeshed: nm_meshed made equal to the list by difference', () => {
  const cases: { name: string; current: bigint[]; want: bigint[]; add: bigint[]; remove: bigint[] }[] = [
    { name: 'empty to empty', current: [], want: [], add: [], remove: [] },
    { name: 'first pods', current: [], want: [5n, 6n], add: [5n, 6n], remove: [] },
    { name: 'unchanged: nothing touched', current: [5n, 6n], want: [6n, 5n], add: [], remove: [] },
    { name: 'one in, one out, one stays', current: [5n, 6n], want: [6n, 7n], add: [7n], remove: [5n] },
    { name: 'everything out', current: [5n, 6n], want: [], add: [], remove: [5n, 6n] },
    { name: 'duplicates count once', current: [5n], want: [7n, 7n, 5n], add: [7n], remove: [] },
    { name: 'ids above 2^53', current: [2n ** 63n + 1n], want: [2n ** 63n + 2n], add: [2n ** 63n + 2n], remove: [2n ** 63n + 1n] },
  ];
  for (const c of cases) assert.deepEqual(planMeshed(c.current, c.want), { add: c.add, remove: c.remove }, c.name);
});

test('layout: nm_config flags and the datapath event names', () => {
  const v = configVal('10.0.0.1', 15001, CONFIG_FLAGS.optIn);
  assert.equal(v.toString('hex'), '0a000001993a0100');
  assert.equal(configFlags(v), 1);
  const off = withConfigFlags(v, 0);
  assert.equal(off.toString('hex'), '0a000001993a0000', 'redirect target kept');
  assert.equal(configFlags(v), 1, 'the original is not changed');
  assert.equal(configVal('10.0.0.1', 15001).toString('hex'), '0a000001993a0000');
  // Indexes of enum nm_global_idx: new counters are appended, never inserted.
  assert.equal(GLOBAL_COUNTERS.indexOf('strict_drop'), 10);
  assert.equal(GLOBAL_COUNTERS.indexOf('connect_not_meshed'), 11);
  assert.equal(GLOBAL_COUNTERS.indexOf('strict_not_meshed'), 12);
});
