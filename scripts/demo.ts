// The demo: two sample services on this machine — "web" in proxy mode (captured to the agent, L7
// metrics, round robin) and "cache" in kernel mode (balanced in connect4) — a client in the mesh
// cgroup sending bounded traffic, then a tour of what happened and where to look. Part two runs a mesh
// across two nodes (demo-mesh.ts), part three traffic management (demo-traffic.ts), part four Kubernetes
// discovery and the ambient opt-in (demo-kube.ts), part five names through the DNS proxy (demo-dns.ts).
import * as fs from 'node:fs';
import { inspectPins, readPinnedStats } from '../src/capture/stat';
import { serviceId } from '../src/config/ids';
import { backend, closeAll, docs, serviceEntry } from '../test/e2e/fixtures';
import { metricSum, Mesh } from '../test/e2e/harness';
import { meshDemo } from './demo-mesh';
import { trafficDemo } from './demo-traffic';
import { kubeDemo } from './demo-kube';
import { dnsDemo } from './demo-dns';
import { DemoParts, loadLine, waitStretch, type PartContext } from './demo/parts';

const seconds = Number(process.env.DEMO_SECONDS ?? 30);

async function main(): Promise<void> {
  const parts = new DemoParts();
  const stretch = waitStretch();
  if (stretch > 1) console.log(`${loadLine()}: agents start slowly here, so the demo waits up to ${stretch.toFixed(1)} times longer for them.\n`);
  // Each part sets up and removes its own mesh: one that fails is reported and the next still runs.
  await parts.run('part one', (ctx) => partOne(ctx));
  await parts.run('part two', (ctx) => meshDemo(seconds, ctx));
  await parts.run('part three', (ctx) => trafficDemo(ctx));
  await parts.run('part four', (ctx) => kubeDemo(ctx));
  await parts.run('part five', (ctx) => dnsDemo(ctx));
  const ok = parts.summary();
  console.log('demo cleaned up: agents and CA stopped, programs detached, pins, namespaces and cgroups removed.');
  if (!ok) process.exitCode = 1;
}

async function partOne(ctx: PartContext): Promise<void> {
  const backends = await Promise.all(['web-v1', 'web-v2', 'cache-a', 'cache-b'].map((n) => backend(n)));
  const [w1, w2, c1, c2] = backends as [typeof backends[0], typeof backends[0], typeof backends[0], typeof backends[0]];
  const webVip = '127.77.0.10';
  const cacheVip = '127.77.0.11';
  const config = docs(
    serviceEntry({ name: 'web', vip: webVip, ports: [w1.port, w2.port] }),
    serviceEntry({ name: 'cache', vip: cacheVip, ports: [c1.port, c2.port], kernel: true }),
  ).replace(/namespace: e2e/g, 'namespace: demo').replace(/\.e2e\./g, '.demo.');
  const mesh = new Mesh({ config });
  ctx.keepLogs(() => mesh.logs);
  const done = async (): Promise<void> => {
    await mesh.cleanup();
    await closeAll(backends);
  };
  process.once('SIGINT', () => void done().then(() => process.exit(130)));
  try {
    console.log('== nodemesh demo, part one: one node, proxy mode and kernel mode ==');
    console.log(`config (ConfigMap-style dir): ${mesh.cfgDir}\n${fs.readFileSync(`${mesh.cfgDir}/mesh.yaml`, 'utf8')}`);
    await ctx.progress('the agent to start', mesh.start());
    console.log(`agent up (pid ${mesh.agent?.pid}): capture cgroup ${mesh.root}, pins ${mesh.pin}`);
    console.log(`  metrics   http://127.0.0.1:${mesh.ports.metrics}/metrics\n  readiness http://127.0.0.1:${mesh.ports.ready}/healthz/ready\n`);

    console.log(`client in ${mesh.pods}: 20 requests to web (${webVip}:80, proxy mode) on one connection`);
    const web = await mesh.curl(...Array.from({ length: 20 }, () => `http://${webVip}/`));
    console.log(`  answers: ${web.replace(/(web-v\d)/g, '$1 ').trim()}`);
    console.log(`client: 10 connections to cache (${cacheVip}:80, kernel mode)`);
    const cache: string[] = [];
    for (let i = 0; i < 10; i++) cache.push(await mesh.curl(`http://${cacheVip}/`));
    console.log(`  answers: ${cache.join(' ')}\n`);

    await new Promise((r) => setTimeout(r, 300));
    const pins = inspectPins(mesh.pin);
    const m = await mesh.metrics();
    for (const [name, id] of [['web', serviceId('demo/web')], ['cache', serviceId('demo/cache')]] as const) {
      const c = pins.counters.get(id);
      console.log(`kernel counters for ${name}: ${JSON.stringify(c)}`);
    }
    console.log(`datapath events: ${JSON.stringify(pins.globals)}`);
    console.log(`istio_requests_total{destination_service_name="web"} = ${metricSum(m, 'istio_requests_total', { destination_service_name: 'web' })}`);
    console.log(`istio_requests_total{destination_service_name="cache"} = ${metricSum(m, 'istio_requests_total', { destination_service_name: 'cache' })} (kernel mode: the agent never sees it)`);
    console.log(`backend hits: ${backends.map((b) => `${b.name}=${b.hits}`).join(' ')}\n`);
    // Every core: each connection lands on one of the agent's proxy workers (the kernel's reuseport hash).
    for (let i = 0; i < 20; i++) await mesh.curl(`http://${webVip}/`);
    const perWorker = [...(await mesh.metrics()).matchAll(/^nodemesh_worker_requests_total\{worker="(\d+)"\} (\d+)/gm)].map(([, w, n]) => `worker ${w}: ${n}`);
    console.log(`proxy workers: 20 more requests to web, one connection each; the kernel spreads connections over the agent's workers (--workers, default the CPUs its cgroup allows)`);
    console.log(`  nodemesh_worker_requests_total: ${perWorker.join(', ')} (docs/workers.md)\n`);
    console.log(`bin/nodemesh stat --pins --bpffs ${mesh.pin}:\n${readPinnedStats(mesh.pin).trimEnd().replace(/^(?=.)/gm, '  ')}\n`);
    // The lines below are true only while part one runs: in a terminal it waits (Enter or DEMO_SECONDS);
    // otherwise it says that all of it is gone and how to look at it live.
    const hold = process.stdin.isTTY === true && seconds > 0;
    console.log(hold ? `where to look, while part one stays up (${seconds} s, or press Enter to go on):` : 'where to look while it runs (part one is torn down now; run `make demo` in a terminal to keep it up for DEMO_SECONDS):');
    console.log(`  curl -s 127.0.0.1:${mesh.ports.metrics}/metrics | grep -E 'istio_|nodemesh_kernel'`);
    console.log('  bin/nodemesh stat                  (live, like top: the agent\'s admin API on 127.0.0.1:15000)');
    console.log(`  bin/nodemesh stat --pins --bpffs ${mesh.pin}`);
    console.log(`  bpftool cgroup show ${mesh.root}`);
    console.log(`  edit ${mesh.cfgDir}/..data/mesh.yaml to reload live`);
    if (hold) await enterOr(seconds * 1000);
  } finally {
    await done();
    console.log('part one cleaned up: agent stopped, programs detached, pins and cgroups removed.');
  }
}

/** Resolves on Enter or after MS, whichever comes first (stdin is released again either way). */
function enterOr(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      process.stdin.off('data', done);
      process.stdin.pause();
      resolve();
    };
    const timer = setTimeout(done, ms);
    process.stdin.once('data', done);
    process.stdin.resume();
  });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
