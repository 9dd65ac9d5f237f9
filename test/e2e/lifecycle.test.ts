// Agent lifecycle against the real kernel: SIGKILL and restart with pinned state, live reloads (good
// and bad), uninstall, and preflight failures that name what is missing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cgroupAttachments } from '../../src/capture/bpf';
import { inspectPins } from '../../src/capture/stat';
import { MAIN, metricSum, Mesh, NODE, rootTest, sleep } from './harness';
import { backend, closeAll, docs, serviceEntry, vip } from './fixtures';

rootTest('SIGKILL leaves pins; kernel mode keeps working, proxy mode falls back to the kernel path; a restart re-adopts without duplicates', async (t) => {
  const [b1, b2] = [await backend('p1'), await backend('k1')];
  const [pv, kv] = [vip(), vip()];
  const mesh = new Mesh({
    config: docs(serviceEntry({ name: 'px', vip: pv, ports: [b1.port] }), serviceEntry({ name: 'kn', vip: kv, ports: [b2.port], kernel: true })),
  });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([b1, b2]);
  });
  await mesh.start();
  assert.equal(await mesh.curl(`http://${pv}/`), 'p1');
  assert.deepEqual(cgroupAttachments(mesh.root), { connect4: 1, sockops: 1, inbound: 1 });

  await mesh.kill('SIGKILL');
  for (const pin of ['link_connect4', 'link_sockops', 'nm_services', 'nm_sockhash']) assert.ok(fs.existsSync(path.join(mesh.pin, pin)), `${pin} pinned`);
  assert.equal(await mesh.curl(`http://${kv}/`), 'k1', 'kernel mode serves while the agent is down');
  // With no agent listening, connect4 sends proxy-mode connects to an endpoint itself (not refused).
  const fallback = (): number => inspectPins(mesh.pin).globals.connect_fallback ?? 0;
  const before = fallback();
  assert.equal(await mesh.curl(`http://${pv}/`), 'p1', 'proxy mode falls back to the kernel path while the agent is down');
  assert.equal(fallback(), before + 1);

  mesh.logs = '';
  await mesh.start();
  assert.match(mesh.logs, /"readopted":\["nm_connect4","nm_sockops","nm_inbound","nm_sendmsg4","nm_recvmsg4"\]/);
  assert.deepEqual(cgroupAttachments(mesh.root), { connect4: 1, sockops: 1, inbound: 1 }, 'no duplicate attachments');
  assert.equal(await mesh.curl(`http://${pv}/`), 'p1');
  assert.equal(await mesh.curl(`http://${kv}/`), 'k1');
});

rootTest('config reloads apply without restart; an invalid one is rejected and the last good keeps serving', async (t) => {
  const [b1, b2] = [await backend('one'), await backend('two')];
  const v = vip();
  const mesh = new Mesh({ config: serviceEntry({ name: 'rl', vip: v, ports: [b1.port] }) });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([b1, b2]);
  });
  await mesh.start();
  assert.equal(await mesh.curl(`http://${v}/`), 'one');
  const pid = mesh.agent?.pid;

  mesh.writeConfig(serviceEntry({ name: 'rl', vip: v, ports: [b2.port] }));
  await waitFor(async () => (await mesh.curl(`http://${v}/`)) === 'two', 'the new endpoint serves');
  assert.equal(mesh.agent?.pid, pid, 'same process');

  // A second VIP appears in the kernel map by reload alone.
  const v2 = vip();
  mesh.writeConfig(docs(serviceEntry({ name: 'rl', vip: v, ports: [b2.port] }), serviceEntry({ name: 'rl2', vip: v2, ports: [b1.port] })));
  await waitFor(async () => (await mesh.curl(`http://${v2}/`).catch(() => '')) === 'one', 'a new VIP is captured');

  mesh.writeConfig(serviceEntry({ name: 'rl', vip: v, ports: [b1.port] }).replace('resolution: STATIC', 'resolution: STATIC\n  bogusField: 1'));
  await waitFor(async () => metricSum(await mesh.metrics(), 'nodemesh_config_last_reload_successful') === 0, 'rejection reported');
  assert.match(mesh.logs, /mesh\.yaml/);
  assert.match(mesh.logs, /spec\.bogusField/);
  assert.match(mesh.logs, /document 0/);
  assert.equal(await mesh.curl(`http://${v}/`), 'two', 'the last good config keeps serving');
  assert.equal(await mesh.curl(`http://${v2}/`), 'one');
  assert.equal(metricSum(await mesh.metrics(), 'nodemesh_config_reloads_total', { result: 'rejected' }), 1);

  // A VIP that leaves the config leaves the kernel map (reloads write only the difference).
  mesh.writeConfig(serviceEntry({ name: 'rl', vip: v, ports: [b2.port] }));
  await waitFor(async () => (await mesh.curl(`http://${v2}/`).catch(() => 'refused')) !== 'one', 'the removed VIP is no longer captured');
  // (Map occupancy is read at most once a second.)
  await waitFor(async () => metricSum(await mesh.metrics(), 'nodemesh_map_entries', { map: 'nm_services' }) === 1, 'one VIP left in nm_services');
  assert.equal(await mesh.curl(`http://${v}/`), 'two');
});

rootTest('nodemesh uninstall leaves no attachment and no pin', async (t) => {
  const b = await backend('u');
  const mesh = new Mesh({ config: serviceEntry({ name: 'un', vip: vip(), ports: [b.port] }) });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([b]);
  });
  await mesh.start();
  await mesh.kill('SIGTERM');
  assert.ok(fs.existsSync(mesh.pin), 'a graceful stop keeps the pins (the datapath outlives the agent)');
  const out = mesh.cli('uninstall', '--bpffs', mesh.pin, '--cgroup', mesh.root);
  assert.match(out, /detached: nm_connect4, nm_sockops, nm_inbound/);
  assert.equal(fs.existsSync(mesh.pin), false);
  assert.deepEqual(cgroupAttachments(mesh.root), { connect4: 0, sockops: 0, inbound: 0 });
  assert.match(mesh.cli('uninstall', '--bpffs', mesh.pin), /detached: nothing/, 'idempotent');
});

rootTest('preflight fails fast naming what is missing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-preflight-'));
  try {
    const cfg = path.join(dir, 'mesh.yaml');
    fs.writeFileSync(cfg, serviceEntry({ name: 'pf', vip: vip(), ports: [1] }));
    const run = (extra: string[], opts: { uid?: number; gid?: number } = {}): { code: number | null; err: string } => {
      const r = spawnSync(NODE, [MAIN, 'agent', '--config', cfg, '--metrics-port', '0', '--ready-port', '0', '--outbound-port', '1', '--tunnel-port', '0', ...extra], {
        encoding: 'utf8',
        timeout: 15_000,
        ...opts,
      });
      return { code: r.status, err: r.stderr };
    };
    const noBpffs = run(['--bpffs', path.join(dir, 'pins'), '--cgroup', '/sys/fs/cgroup']);
    assert.equal(noBpffs.code, 1);
    assert.match(noBpffs.err, /NM_E_NO_BPFFS/);
    assert.match(noBpffs.err, /is not a bpf filesystem/);

    fs.mkdirSync('/sys/fs/bpf/nm-preflight-unused', { recursive: true });
    const noCg = run(['--bpffs', '/sys/fs/bpf/nm-preflight-unused/x', '--cgroup', dir]);
    fs.rmdirSync('/sys/fs/bpf/nm-preflight-unused');
    assert.equal(noCg.code, 1);
    assert.match(noCg.err, /NM_E_NO_CGROUP2/);
    assert.match(noCg.err, /is not cgroup v2/);

    fs.chmodSync(dir, 0o755);
    fs.chmodSync(cfg, 0o644);
    const unpriv = run([], { uid: 65534, gid: 65534 });
    assert.equal(unpriv.code, 1);
    assert.match(unpriv.err, /NM_E_NOT_PRIVILEGED/);
    assert.match(unpriv.err, /CAP_BPF/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting: ${what}`);
}
