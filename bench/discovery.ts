// `make bench`, discovery at scale (issue 8): the Kubernetes API stand-in loaded with 100k pods, 10k
// Services and their EndpointSlices (100k endpoints) on 100 nodes and 50 namespaces, and one agent with
// eBPF capture discovering it through --kubeconfig. Reports the time to the first full sync, RSS after it,
// the latency from an EndpointSlice change to the pinned nm_backends map (p50/p99) and the agent's CPU at a
// fixed rate of endpoint changes, against the goals. Writes bench/results/discovery.json.
//
// The agent runs as the other benches run theirs (bench/mesh.ts: its own cgroup tree and pin directory,
// node "bench", which hosts no pod of the cluster, so no workload certificate is issued at start), with a
// comment-only ConfigMap and $KUBECONFIG pointing at the stand-in. A first agent against the empty
// stand-in gives the RSS the cluster's objects are measured against. Root only; everything started is
// stopped by pid and the cgroups and pins removed, also on failure, on a signal or at the deadline.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KubeApiServer } from '../test/helpers/kubeapi';
import { ensureBpffs, isRoot, stopChild } from '../test/helpers/sysenv';
import { clusterObjects, pods, type ClusterSpec, type Shape } from './discovery-cluster';
import { measureLatency, measureRate, kernelBaseline, type Tracker } from './discovery-phases';
import { BackendsMap, fetchText, metricValue, readLog, timeList, waitIdle } from './discovery-probe';
import { formatFindings, GOALS, perPod, type Findings, type SyncFigures } from './discovery-report';
import { envInt, errText, runMain, say, withBenchScope, writeResults } from './harness';
import { meshUnavailable, startMesh, type Mesh, type MeshPaths } from './mesh';
import { readRssKb } from './procs';

interface Settings {
  readonly cluster: ClusterSpec;
  readonly changes: number;
  readonly latencySeconds: number;
  readonly rate: number;
  readonly rateSeconds: number;
  readonly readyTimeoutSec: number;
  readonly out: string;
}

function readSettings(): Settings {
  const podCount = envInt('BENCH_DISCOVERY_PODS', 100_000, 1, 1_000_000);
  const services = envInt('BENCH_DISCOVERY_SERVICES', 10_000, 1, 16_000);
  if (podCount % services !== 0) throw new Error(`BENCH_DISCOVERY_PODS (${podCount}) must be a multiple of BENCH_DISCOVERY_SERVICES (${services}): every service gets the same number of pods`);
  const podsPerService = podCount / services;
  const kernelServices = envInt('BENCH_DISCOVERY_KERNEL_SERVICES', 4, 1, Math.min(64, services));
  // Kernel-mode services are kept small: their endpoints, plus one added by a change, go into nm_backends.
  if (podsPerService > 63) throw new Error(`${podsPerService} pods per service: kernel-mode services are measured with at most 63 endpoints (+1 added)`);
  const shape = process.env.BENCH_DISCOVERY_SHAPE ?? 'typical';
  if (shape !== 'typical' && shape !== 'minimal') throw new Error(`BENCH_DISCOVERY_SHAPE=${shape}: expected typical or minimal`);
  return {
    cluster: {
      nodes: envInt('BENCH_DISCOVERY_NODES', 100, 1, 5000),
      namespaces: envInt('BENCH_DISCOVERY_NAMESPACES', 50, 1, 10_000),
      services,
      podsPerService,
      kernelServices,
      shape: shape as Shape,
    },
    changes: envInt('BENCH_DISCOVERY_CHANGES', 200, 1, 10_000),
    latencySeconds: envInt('BENCH_DISCOVERY_LATENCY_SECONDS', 180, 5, 3600),
    rate: envInt('BENCH_DISCOVERY_RATE', 100, 1, 1000),
    rateSeconds: envInt('BENCH_DISCOVERY_RATE_SECONDS', 10, 1, 120),
    readyTimeoutSec: envInt('BENCH_DISCOVERY_READY_TIMEOUT', 300, 10, 3600),
    out: path.resolve(process.env.BENCH_DISCOVERY_OUT ?? 'bench/results/discovery.json'),
  };
}

/** The ConfigMap the agent reads besides the API (as in a cluster): nothing in it. */
const CONFIG = '# nothing here: services, pods and nodes come from the Kubernetes API\n';

function statusKb(pid: number | undefined, field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] !== undefined ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The first sync as the agent's log tells it, in ms after `t0`. */
function timeline(logFile: string, t0: number, services: number): SyncFigures {
  const out: SyncFigures = {};
  const listed: Record<string, number> = {};
  let synced: number | undefined;
  for (const e of readLog(logFile)) {
    const at = e.at - t0;
    if (e.msg === 'agent started') out.startedMs ??= at;
    else if (e.msg === 'listed' && typeof e.fields.kind === 'string') listed[e.fields.kind] ??= at;
    else if (e.msg === 'discovery synced') synced ??= at;
    else if (synced !== undefined && e.msg === 'kernel maps synced' && out.kernelMapsMs === undefined) out.kernelMapsMs = at;
    else if (synced !== undefined && e.msg === 'config applied' && e.fields.services === services && out.configAppliedMs === undefined) out.configAppliedMs = at;
  }
  return { ...out, listedMs: listed, ...(synced !== undefined && { discoverySyncedMs: synced }) };
}

async function run(s: Settings, api: KubeApiServer, dir: string, f: Findings): Promise<void> {
  const c = s.cluster;
  const kubeconfig = path.join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  // startMesh passes this process's environment on: the agent finds the API as kubectl would.
  process.env.KUBECONFIG = kubeconfig;
  const results = path.dirname(s.out);
  const paths = (log: string): MeshPaths => ({
    agentMain: path.resolve(__dirname, '../src/main.js'),
    bpfObjects: path.resolve(process.env.BENCH_BPF_OBJECTS ?? 'build/bpf'),
    dir,
    logFile: path.join(results, log),
    // Info, as in a cluster: the log's timestamps give the sync's steps.
    logLevel: process.env.BENCH_AGENT_LOG_LEVEL ?? 'info',
    // No requests flow here; the access log stays off as it always was for this bench.
    accessLog: false,
  });
  const why = meshUnavailable(paths('discovery-agent.log'));
  if (why) {
    f.unavailable = why;
    return;
  }
  const readyMs = s.readyTimeoutSec * 1000;

  say('agent against the empty stand-in (the RSS the objects are measured against)');
  const te = Date.now();
  let empty: Mesh;
  try {
    empty = await startMesh(paths('discovery-agent-empty.log'), 0, readyMs, CONFIG);
  } catch (e) {
    f.unavailable = `agent did not become ready against the empty stand-in: ${errText(e)}`;
    return;
  }
  f.sync.emptyReadyMs = Date.now() - te;
  await waitIdle(empty.agent.child.pid, 200, 10, 10_000);
  const emptyKb = readRssKb(empty.agent.child.pid);
  if (emptyKb !== undefined) f.rss.emptyKb = emptyKb;
  await stopChild(empty.agent.child, 10_000);

  say(`loading the stand-in: ${c.services} services, ${pods(c)} pods (${c.shape} objects)`);
  const tl = performance.now();
  const objects = api.applyMany(clusterObjects(c));
  f.load = { objects, ms: performance.now() - tl };
  for (const p of ['/api/v1/pods', '/api/v1/services', '/apis/discovery.k8s.io/v1/endpointslices']) f.lists.push(await timeList(api, p));

  say('agent against the loaded stand-in');
  const t0 = Date.now();
  let m: Mesh;
  try {
    m = await startMesh(paths('discovery-agent.log'), 0, readyMs, CONFIG);
  } catch (e) {
    f.unavailable = `agent did not become ready: ${errText(e)}`;
    f.sync = { ...f.sync, ...timeline(paths('discovery-agent.log').logFile, t0, c.services) };
    return;
  }
  f.sync.readyMs = Date.now() - t0;
  const pid = m.agent.child.pid;
  const atReady = readRssKb(pid);
  if (atReady !== undefined) f.rss.atReadyKb = atReady;
  const synced = metricValue(await fetchText(`http://127.0.0.1:${m.ports.metrics}/metrics`).catch(() => ''), 'nodemesh_discovery_synced');
  await waitIdle(pid, 200, 10, 60_000);
  f.sync = { ...f.sync, ...timeline(paths('discovery-agent.log').logFile, t0, c.services), ...(synced !== undefined && { syncedMetric: synced }) };
  const settled = readRssKb(pid);
  if (settled !== undefined) f.rss.settledKb = settled;
  const peak = statusKb(pid, 'VmHWM');
  if (peak !== undefined) f.rss.peakKb = peak;
  say(`ready after ${f.sync.readyMs} ms; RSS ${settled ?? '-'} kB`);

  try {
    await changePhases(s, api, m, f);
    const end = readRssKb(pid);
    if (end !== undefined) f.rss.endKb = end;
  } finally {
    // Before the stand-in goes away: its watches ending would be logged by the agent as an API failure.
    await stopChild(m.agent.child, 10_000);
  }
}

async function changePhases(s: Settings, api: KubeApiServer, m: Mesh, f: Findings): Promise<void> {
  const c = s.cluster;
  const pid = m.agent.child.pid;
  const map = new BackendsMap(path.join(ensureBpffs(), path.basename(m.root)));
  try {
    if ((await kernelBaseline(map, c, 30_000)) === undefined) {
      f.notes.push(`nm_backends never held the ${c.kernelServices * c.podsPerService} endpoints of the kernel-mode services: change latency not measured`);
      return;
    }
    const tracker: Tracker = { extras: new Map() };
    say(`latency: up to ${s.changes} changes, one at a time, within ${s.latencySeconds} s`);
    f.latency = await measureLatency(api, c, map, pid, tracker, s.changes, s.latencySeconds * 1000);
    say(`rate: ${s.rate} endpoint changes/s for ${s.rateSeconds} s`);
    f.rate = await measureRate(api, c, map, pid, tracker, s.rate, s.rateSeconds);
  } finally {
    map.close();
  }
}

async function main(): Promise<number> {
  if (!isRoot()) {
    say('must run as root: the agent attaches eBPF programs to a cgroup of its own and the bench reads its pinned maps (try: sudo make bench)');
    return 2;
  }
  const s = readSettings();
  const c = s.cluster;
  // Load and lists scale with the cluster; the agent gets its ready timeout, the phases their budgets.
  const budgetSec = envInt('BENCH_TIMEOUT', 120 + Math.ceil(pods(c) / 2000) + 2 * s.readyTimeoutSec + s.latencySeconds + s.rateSeconds + 300, 60, 7200);
  fs.mkdirSync(path.dirname(s.out), { recursive: true });
  const f: Findings = {
    cluster: { nodes: c.nodes, namespaces: c.namespaces, services: c.services, pods: pods(c), endpoints: pods(c), kernelServices: c.kernelServices, shape: c.shape },
    lists: [],
    sync: {},
    rss: {},
    notes: [],
  };
  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg();
  const warnings = await withBenchScope(budgetSec, async (dir) => {
    const api = await KubeApiServer.start({});
    try {
      await run(s, api, dir, f);
    } finally {
      await api.stop();
    }
  });
  if (loadBefore[0]! > 0.5) f.notes.push(`the machine was busy before the run (load average ${loadBefore[0]!.toFixed(2)}): other processes shared the ${os.cpus().length} CPUs`);
  process.stdout.write(`\n${formatFindings(f)}\n`);
  for (const w of warnings) say(`warning: ${w}`);
  writeResults(s.out, {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    host: { cpus: os.cpus().length, kernel: os.release(), node: process.version, loadAverageBefore: loadBefore, loadAverageAfter: os.loadavg() },
    settings: { ...c, changes: s.changes, latencySeconds: s.latencySeconds, rate: s.rate, rateSeconds: s.rateSeconds, readyTimeoutSec: s.readyTimeoutSec },
    goals: GOALS,
    ...f,
    rssPerPodBytes: perPod(f),
    warnings,
  });
  // A missed goal or an agent that could not be measured is a reported outcome: the next bench still runs.
  return 0;
}

runMain(main);
