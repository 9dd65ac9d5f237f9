// Opt-in capture (Istio ambient style) in the real kernel, on a one-node cluster whose pod cgroups are in
// the kubelet's layout: only pods whose cgroup id is in nm_meshed are captured, a pod added later is
// captured from its next connection on, a pod taken out keeps the connections it has, and STRICT is
// enforced only for meshed pods. The agent runs as in production (no discovery, so it leaves the opt-in
// state alone); this test plays the discovery's part from its own process, through the pins
// (syncMeshedPins: the same code as Datapath.syncMeshed), with the cgroup ids PodCgroups finds.
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readMeshedPins, syncMeshedPins } from '../../src/capture/bpf';
import { PodCgroups } from '../../src/capture/cgroups';
import { native } from '../../src/capture/ffi';
import { inboundKey, MTLS } from '../../src/capture/layout';
import { inspectPins } from '../../src/capture/stat';
import { serviceId } from '../../src/config/ids';
import { Cluster, nsenterArgs, type ClusterNode, type KubeletLayout, type Pod } from '../helpers/cluster';
import { spawnInCgroup, stopChild } from '../helpers/sysenv';
import { MAIN, NODE, rootTest, sleep } from './harness';

const PORT = 8080;
// Answers every line with what it saw: "<local address> <remote address>". Through the agent, local is
// the pod IP the agent dialled; a direct (uncaptured) connect to the VIP shows the VIP and the client.
const SERVER = `require('net').createServer((s)=>{let b='';s.on('error',()=>{});s.on('data',(d)=>{b+=d;let i;
while((i=b.indexOf('\\n'))>=0){b=b.slice(i+1);s.write(s.localAddress+' '+s.remoteAddress+'\\n');}});})
.listen(${PORT},'0.0.0.0',()=>console.log('ready'));`;
// One connection, one line, one answer; "timeout" when the connect does not complete (a dropped SYN).
const ONESHOT = `const s=require('net').connect({host:process.argv[1],port:Number(process.argv[2])},()=>s.write('ping\\n'));
let b='';s.on('data',(d)=>{b+=d;if(b.includes('\\n')){console.log(b.trim());process.exit(0);}});
s.on('error',(e)=>{console.log('error '+e.code);process.exit(2);});setTimeout(()=>{console.log('timeout');process.exit(3);},1500).unref();`;
// A held connection: one request per stdin line, each answer printed as it comes.
const HOLD = `const s=require('net').connect({host:process.argv[1],port:Number(process.argv[2])},()=>console.log('port '+s.localPort));
let b='';s.on('data',(d)=>{b+=d;let i;while((i=b.indexOf('\\n'))>=0){console.log(b.slice(0,i));b=b.slice(i+1);}});
s.on('error',(e)=>{console.log('error '+e.code);process.exit(2);});process.stdin.on('data',()=>s.write('ping\\n'));
process.stdin.on('end',()=>s.end(()=>process.exit(0)));setTimeout(()=>process.exit(4),40000).unref();`;

interface Env {
  c: Cluster;
  node: ClusterNode;
  a: Pod;
  b: Pod;
  server: Pod;
  vip: string;
  pin: string;
  cgroups: PodCgroups;
  /** Cgroup id of a pod, as the discovery finds it (checked against the cluster's own layout). */
  idOf(p: Pod): bigint;
  /** "<local> <remote>" as the server saw a new connection from the pod to host:port, or why it failed. */
  oneShot(p: Pod, host: string, port?: number): Promise<string>;
  /** SIGKILLs the agent and starts a new one on the same pins. */
  restartAgent(): Promise<void>;
}

/** A cluster (pods: a = Guaranteed, b = Burstable, server = BestEffort), a server owning the VIP, an agent. */
async function setup(t: { after: (fn: () => Promise<void>) => void }, layout: KubeletLayout): Promise<Env> {
  const c = await Cluster.create({ nodes: 1, podsPerNode: 3, kubeletLayout: layout, id: 'optin' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-optin-'));
  const pin = `/sys/fs/bpf/${c.id}-optin`;
  const logs: string[] = [];
  let agent: ChildProcess | undefined;
  t.after(async () => {
    if (agent) await stopChild(agent);
    if (fs.existsSync(pin)) {
      try {
        execFileSync(NODE, [MAIN, 'uninstall', '--bpffs', pin, '--cgroup', c.nodes[0]!.podCgroupRoot], { stdio: 'ignore' });
      } catch {
        fs.rmSync(pin, { recursive: true, force: true });
      }
    }
    await c.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const node = c.nodes[0]!;
  const [a, b, server] = node.pods as [Pod, Pod, Pod];
  assert.deepEqual([a.qosClass, b.qosClass, server.qosClass], ['Guaranteed', 'Burstable', 'BestEffort']);

  // The server pod also owns the VIP, so an uncaptured connect reaches it directly (as kube-proxy would).
  const vip = `10.${c.subnet}.250.10`;
  execFileSync('ip', ['-n', server.ns, 'addr', 'add', `${vip}/32`, 'dev', 'eth0']);
  execFileSync('ip', ['-n', node.ns, 'route', 'add', `${vip}/32`, 'dev', `p${node.pods.indexOf(server)}`]);
  const srv = c.spawn(server, NODE, ['-e', SERVER]);
  await new Promise<void>((resolve, reject) => {
    srv.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    srv.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });

  const cfg = path.join(dir, 'mesh.yaml');
  fs.writeFileSync(
    cfg,
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: optin}
spec:
  hosts: [web.optin.svc.cluster.local]
  addresses: [${vip}]
  ports: [{number: ${PORT}, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: ${server.ip}, ports: {tcp: ${PORT}}}]
`,
  );
  const startAgent = async (): Promise<void> => {
    const args = [MAIN, 'agent', '--config', cfg, '--cgroup', node.podCgroupRoot, '--bpffs', pin, '--node', node.name, '--node-ip', node.ip, '--admin-host', node.ip, '--drain-timeout', '1s'];
    const child = c.spawn(node, NODE, args, { env: { ...process.env, NODE_ENV: 'production', NODEMESH_LOG_LEVEL: 'info' } });
    agent = child;
    const add = (d: Buffer): void => void logs.push(...d.toString().split('\n').filter(Boolean));
    child.stdout?.on('data', add);
    child.stderr?.on('data', add);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await c.outside(node, 'curl', ['-s', '--max-time', '2', `http://${node.ip}:15021/healthz/ready`], { timeoutMs: 4000 });
      if (r.stdout.startsWith('ready')) return;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`agent not ready:\n${logs.slice(-30).join('\n')}`);
      await sleep(100);
    }
  };
  await startAgent();

  const cgroups = new PodCgroups(node.podCgroupRoot);
  return {
    c, node, a, b, server, vip, pin, cgroups,
    idOf(p) {
      const found = cgroups.resolve(p.uid!, p.qosClass);
      assert.ok(found, `cgroup of ${p.name} (${p.qosClass}, ${layout}) not found below ${node.podCgroupRoot}`);
      assert.equal(found.path, p.podCgroup);
      assert.equal(found.id, fs.statSync(p.podCgroup!, { bigint: true }).ino);
      return found.id;
    },
    async oneShot(p, host, port = PORT) {
      const r = await c.exec(p, NODE, ['-e', ONESHOT, '--', host, String(port)], { timeoutMs: 5000 });
      return r.stdout.trim() || `exit ${r.code}: ${r.stderr.trim()}`;
    },
    async restartAgent() {
      const old = agent!;
      const exited = new Promise<void>((r) => old.once('exit', () => r()));
      old.kill('SIGKILL');
      await exited;
      await startAgent();
    },
  };
}

/** A held connection from a pod: request() sends one line on it and returns the answer. */
async function hold(e: Env, p: Pod): Promise<{ port: number; request(): Promise<string>; close(): Promise<void> }> {
  const child = spawnInCgroup(p.cgroup, 'nsenter', nsenterArgs(p.ns, NODE, ['-e', HOLD, '--', e.vip, String(PORT)]), { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  child.stdout?.on('data', (d: Buffer) => {
    lines.push(...d.toString().split('\n').filter(Boolean));
    wake?.();
  });
  const next = async (): Promise<string> => {
    const deadline = Date.now() + 5000;
    while (lines.length === 0) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`held connection from ${p.name}: no answer (exit ${child.exitCode})`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
    return lines.shift()!;
  };
  const first = await next();
  assert.match(first, /^port \d+$/, first);
  return {
    port: Number(first.slice(5)),
    async request() {
      child.stdin?.write('x\n');
      return next();
    },
    close: () => (child.stdin?.end(), stopChild(child, 1000)),
  };
}

const viaAgent = (e: Env, got: string, from: Pod): void => {
  const [local, remote] = got.split(' ');
  assert.equal(local, e.server.ip, `captured: the agent dialled the endpoint (${got})`);
  assert.notEqual(remote, from.ip, `captured: the server does not see ${from.name} itself (${got})`);
};
const direct = (e: Env, got: string, from: Pod): void => assert.equal(got, `${e.vip} ${from.ip}`, `not captured: ${from.name} reached the VIP itself`);

rootTest('opt-in (systemd layout): only meshed pods are captured; joining and leaving never touch open connections', async (t) => {
  const e = await setup(t, 'systemd');
  const { a, b, pin } = e;
  const svc = serviceId('optin/web');
  const redirected = (): number => inspectPins(pin).counters.get(svc)?.redirected ?? 0;

  // Opt-in off (the default): every pod below --cgroup is captured, as before.
  assert.deepEqual(readMeshedPins(pin), { optIn: false, ids: [] });
  viaAgent(e, await e.oneShot(b, e.vip), b);
  assert.equal(redirected(), 1);

  // Opt-in with only A: A's connection goes to the agent (its original destination is in the kernel),
  // B's is left alone and counted as passed.
  const [idA, idB] = [e.idOf(a), e.idOf(b)];
  syncMeshedPins(pin, [idA]);
  assert.deepEqual(readMeshedPins(pin), { optIn: true, ids: [idA] });
  const held = await hold(e, a);
  t.after(() => held.close());
  viaAgent(e, await held.request(), a);
  const entry = inspectPins(pin).origDst.find((x) => x.client === `${a.ip}:${held.port}`);
  assert.ok(entry, `nm_orig_dst has A's connection: ${JSON.stringify(inspectPins(pin).origDst)}`);
  assert.equal(entry.orig, `${e.vip}:${PORT}`);
  assert.equal(entry.serviceId, svc);
  const before = inspectPins(pin).globals;
  direct(e, await e.oneShot(b, e.vip), b);
  const after = inspectPins(pin).globals;
  assert.equal(after.connect_not_meshed! - before.connect_not_meshed!, 1, 'B passed as not meshed');
  assert.equal(after.connect_proxy, before.connect_proxy, 'nothing redirected for B');
  assert.equal(redirected(), 2, 'only A was redirected');

  // B joins: its next connection is captured.
  syncMeshedPins(pin, [idA, idB]);
  viaAgent(e, await e.oneShot(b, e.vip), b);

  // A leaves: its open connection keeps working through the agent; its next one is not captured.
  syncMeshedPins(pin, [idB]);
  assert.deepEqual(readMeshedPins(pin), { optIn: true, ids: [idB] });
  viaAgent(e, await held.request(), a);
  viaAgent(e, await held.request(), a);
  direct(e, await e.oneShot(a, e.vip), a);
  viaAgent(e, await e.oneShot(b, e.vip), b);
  assert.ok(inspectPins(pin).origDst.some((x) => x.client === `${a.ip}:${held.port}`), 'the open connection keeps its entry');
  await held.close();
  await sleep(200);
  assert.ok(!inspectPins(pin).origDst.some((x) => x.client === `${a.ip}:${held.port}`), 'and loses it at close, counted by sockops');
  const c = inspectPins(pin).counters.get(svc)!;
  assert.equal(c.opened, c.redirected, 'sockops counted exactly what connect4 redirected');

  // A restarted agent keeps the kernel's opt-in state (it never captures every pod in between).
  await e.restartAgent();
  assert.deepEqual(readMeshedPins(pin), { optIn: true, ids: [idB] });
  direct(e, await e.oneShot(a, e.vip), a);
  viaAgent(e, await e.oneShot(b, e.vip), b);

  // Opt-in off again: everything below --cgroup is captured, the table is empty.
  syncMeshedPins(pin, undefined);
  assert.deepEqual(readMeshedPins(pin), { optIn: false, ids: [] });
  viaAgent(e, await e.oneShot(a, e.vip), a);
});

rootTest('opt-in (cgroupfs layout): every QoS class is found; STRICT is enforced only for meshed pods', async (t) => {
  const e = await setup(t, 'cgroupfs');
  const { a, b, server, pin } = e;
  const ids = [a, b, server].map((p) => e.idOf(p));
  assert.equal(new Set(ids).size, 3);

  syncMeshedPins(pin, [ids[0]!]);
  viaAgent(e, await e.oneShot(a, e.vip), a);
  direct(e, await e.oneShot(b, e.vip), b);

  // STRICT for the server pod's address (written here as the mesh plane would for a PeerAuthentication).
  const lib = native();
  const fd = lib.objGet(path.join(pin, 'nm_inbound_mode'));
  t.after(() => lib.closeFd(fd));
  assert.equal(lib.mapUpdate(fd, inboundKey(server.ip, 0), Buffer.from([MTLS.STRICT])), 0);
  const g = (): Record<string, number> => inspectPins(pin).globals;

  // The server is not meshed: a plaintext SYN from B passes, counted.
  let before = g();
  assert.equal(await e.oneShot(b, server.ip), `${server.ip} ${b.ip}`);
  assert.equal(g().strict_not_meshed! - before.strict_not_meshed!, 1);
  assert.equal(g().strict_drop, before.strict_drop);

  // Meshed: the same SYN is dropped.
  syncMeshedPins(pin, [ids[0]!, ids[2]!]);
  before = g();
  assert.equal(await e.oneShot(b, server.ip), 'timeout');
  assert.ok(g().strict_drop! > before.strict_drop!, 'dropped by the STRICT program');

  // Opt-in off: STRICT applies to every pod again, as before.
  syncMeshedPins(pin, []);
  assert.equal(await e.oneShot(b, server.ip), `${server.ip} ${b.ip}`, 'opt-in on with nobody meshed: passes');
  syncMeshedPins(pin, undefined);
  assert.equal(await e.oneShot(b, server.ip), 'timeout');
  lib.mapDelete(fd, inboundKey(server.ip, 0));
  assert.equal(await e.oneShot(b, server.ip), `${server.ip} ${b.ip}`);
});
