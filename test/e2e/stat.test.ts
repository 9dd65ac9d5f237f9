// `nodemesh stat --once -o json` against an agent with eBPF capture: a proxy-mode service's requests and
// a kernel-mode service's kernel counters (traffic that never reaches the agent), both by name.
import assert from 'node:assert/strict';
import { freePorts, Mesh, rootTest } from './harness';
import { backend, closeAll, docs, serviceEntry, vip } from './fixtures';

interface Row {
  host: string;
  namespace: string;
  side: string;
  dataplane: string;
  requests_per_sec: number | null;
  requests_total: number;
  kernel: { active: number; openedPerSec: number | null } | null;
}

rootTest('stat: proxy-mode requests and kernel-mode counters per service name, over the admin API', async (t) => {
  const [b1, b2] = [await backend('web'), await backend('kern')];
  const [web, kern] = [vip(), vip()];
  const [adminPort] = (await freePorts(1)) as [number];
  const mesh = new Mesh({
    config: docs(serviceEntry({ name: 'web', vip: web, ports: [b1.port] }), serviceEntry({ name: 'kern', vip: kern, ports: [b2.port], kernel: true })),
    extraArgs: ['--admin-port', String(adminPort)],
  });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([b1, b2]);
  });
  await mesh.start();
  for (let i = 0; i < 3; i++) {
    assert.equal(await mesh.curl(`http://${web}/`), 'web');
    assert.equal(await mesh.curl(`http://${kern}/`), 'kern');
  }
  const out = mesh.cli('stat', '--once', '-o', 'json', '--interval', '200ms', '--admin-address', `127.0.0.1:${adminPort}`);
  const doc = JSON.parse(out) as { agent: { datapath: string; config_generation: number }; services: Row[]; datapath_events: Record<string, number> };
  assert.equal(doc.agent.datapath, 'ebpf');
  assert.ok(doc.agent.config_generation >= 1);
  const row = (host: string): Row | undefined => doc.services.find((s) => s.host === host && s.side === 'out');
  const w = row('web.e2e.svc.cluster.local');
  assert.ok(w, out);
  assert.deepEqual([w.namespace, w.dataplane, w.requests_total], ['e2e', 'proxy', 3], out);
  const k = row('kern.e2e.svc.cluster.local');
  assert.ok(k?.kernel, out);
  assert.equal(k.dataplane, 'kernel');
  assert.equal(k.requests_total, 0, 'kernel mode never reaches the agent');
  assert.equal(k.kernel.active, 0);
  assert.ok((doc.datapath_events['connect_kernel'] ?? 0) >= 3, out);

  const services = mesh.cli('config', 'services', '--admin-address', `127.0.0.1:${adminPort}`);
  assert.match(services, /^e2e +kern +\S+ +80\/TCP +kernel +1 +kern\.e2e\.svc\.cluster\.local$/m);
});
