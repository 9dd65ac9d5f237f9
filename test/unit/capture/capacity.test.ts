import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { MeshConfig, Service } from '../../../src/config/model';
import { capacityOf, capacityProblem, DEFAULT_CAPACITY, mapNeeds, mapSizes, resolveCapacity, sizesWithPins } from '../../../src/capture/capacity';
import { planMaps } from '../../../src/capture/plan';

const REPO = path.resolve(__dirname, '../../../..');

test('capacity: the defaults are the sizes compiled into maps.h', () => {
  const h = fs.readFileSync(path.join(REPO, 'bpf/include/maps.h'), 'utf8');
  const def = (name: string): number => Number(new RegExp(`#define ${name} (\\d+)`).exec(h)?.[1]);
  assert.deepEqual(DEFAULT_CAPACITY, { services: def('NM_MAX_SERVICES'), backends: def('NM_MAX_BACKENDS'), connections: def('NM_MAX_CONNS'), meshedPods: def('NM_MAX_MESHED') });
});

test('capacity: flags resolve over the defaults, and bad values are usage errors', () => {
  assert.deepEqual(resolveCapacity({ services: 64 }), { ...DEFAULT_CAPACITY, services: 64 });
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 30]) assert.throws(() => resolveCapacity({ backends: bad }), /--max-backends must be an integer/);
  const sizes = mapSizes(resolveCapacity({ services: 64, connections: 1000 }));
  assert.equal(sizes.get('nm_services'), 64);
  assert.equal(sizes.get('nm_svc_stats'), 64);
  assert.equal(sizes.get('nm_sockhash'), 1000);
  assert.equal(sizes.get('nm_meshed'), DEFAULT_CAPACITY.meshedPods);
  assert.equal(sizes.has('nm_config'), false);
  assert.deepEqual(capacityOf((m) => (m === 'nm_services' ? 64 : m === 'nm_svc_stats' ? 100 : undefined)), { ...DEFAULT_CAPACITY, services: 64 });
});

test('capacity: pinned maps keep their size, and the difference is reported', () => {
  const pinned = new Map([['nm_services', 64], ['nm_backends', 65536]]);
  const { sizes, kept } = sizesWithPins(new Map([['nm_services', 128], ['nm_backends', 65536], ['nm_meshed', 10]]), (m) => pinned.get(m));
  assert.deepEqual([...sizes], [['nm_services', 64], ['nm_backends', 65536], ['nm_meshed', 10]]);
  assert.deepEqual(kept, [{ map: 'nm_services', pinned: 64, requested: 128 }]);
});

const svc = (id: number, vips: number, endpoints: number, kernel = true): Service => ({
  key: `ns/s${id}`, id, name: `s${id}`, namespace: 'ns', hosts: [], labels: {},
  addresses: Array.from({ length: vips }, (_, i) => `10.96.${id}.${i}`),
  ports: [{ number: 80, name: 'a', protocol: 'HTTP', targetPort: 80 }, { number: 81, name: 'b', protocol: 'TCP', targetPort: 81 }],
  dataplane: kernel ? 'kernel' : 'proxy',
  endpoints: Array.from({ length: endpoints }, (_, i) => ({ address: `10.0.${id}.${i}`, ports: {}, labels: {}, namespace: 'ns', serviceAccount: undefined, workload: undefined, node: undefined, weight: 1 })),
});
const cfg = (...services: Service[]): MeshConfig => ({ services, workloads: [], nodes: [], peerAuthentications: [], authorizationPolicies: [], source: { files: [], hash: '' } });

test('capacity: what a config needs, and one message with the numbers and the flag', () => {
  const cases: { name: string; config: MeshConfig; cap: { services: number; backends: number }; needs: object; error?: RegExp }[] = [
    { name: 'fits', config: cfg(svc(1, 2, 3)), cap: { services: 4, backends: 6 }, needs: { serviceEntries: 4, serviceIds: 1, backends: 6 } },
    { name: 'VIP × port over --max-services', config: cfg(svc(1, 3, 0)), cap: { services: 4, backends: 6 }, needs: { serviceEntries: 6, serviceIds: 1, backends: 0 }, error: /^6 nm_services entries \(VIP × port\) needed, capacity 4: raise --max-services to at least 6$/ },
    { name: 'services without VIPs still need stats', config: cfg(svc(1, 0, 0), svc(2, 0, 0), svc(3, 0, 0)), cap: { services: 2, backends: 1 }, needs: { serviceEntries: 0, serviceIds: 3, backends: 0 }, error: /3 nm_svc_stats entries \(services\) needed, capacity 2: raise --max-services/ },
    { name: 'endpoints × ports over --max-backends', config: cfg(svc(1, 1, 4)), cap: { services: 4, backends: 6 }, needs: { serviceEntries: 2, serviceIds: 1, backends: 8 }, error: /^8 nm_backends entries .* capacity 6: raise --max-backends to at least 8$/ },
    { name: 'proxy endpoints need backends too (the fallback while no agent listens)', config: cfg(svc(1, 1, 4, false)), cap: { services: 4, backends: 8 }, needs: { serviceEntries: 2, serviceIds: 1, backends: 8 } },
    { name: 'both at once: one message', config: cfg(svc(1, 3, 4)), cap: { services: 4, backends: 6 }, needs: { serviceEntries: 6, serviceIds: 1, backends: 8 }, error: /--max-services to at least 6; 8 nm_backends .*--max-backends to at least 8$/ },
  ];
  for (const c of cases) {
    const needs = mapNeeds(planMaps(c.config));
    assert.deepEqual(needs, c.needs, c.name);
    const problem = capacityProblem(needs, c.cap);
    if (c.error) assert.match(problem ?? '', c.error, c.name);
    else assert.equal(problem, undefined, c.name);
  }
});
