// What the discovery scale bench found, as one record (written as JSON) and as the table it prints, with
// the goals of issue 8 beside the figures. Pure.
import type { ListTiming } from './discovery-probe';
import type { LatencyResult, RateResult } from './discovery-phases';
import { formatGrid } from './tables';

export const GOALS = {
  /** Start to first full sync (ready) with 100k pods. */
  syncMs: 3000,
  /** Agent RSS per pod. */
  rssPerPodBytes: 2048,
  /** EndpointSlice change to kernel map update, p99. */
  changeP99Ms: 50,
} as const;

export const ANCHOR = 'anchor: ztunnel needed 3 GB RSS and 7 s for 1M pods and 66k services (2023)';

export interface SyncFigures {
  /** Seen by polling /healthz/ready every 100 ms (startMesh's wait). */
  readyMs?: number;
  /** The same build against the empty stand-in: the fixed cost of starting. */
  emptyReadyMs?: number;
  /** The agent's own start-up done (capture attached, ConfigMap applied, informers started). */
  startedMs?: number;
  /** nodemesh_discovery_synced right after ready. */
  syncedMetric?: number;
  /** From the agent's log, ms after the agent was started: when each kind's first list was complete. */
  listedMs?: Record<string, number>;
  discoverySyncedMs?: number;
  /** The first config holding the API's services applied (kernel maps synced, then the mesh plane). */
  kernelMapsMs?: number;
  configAppliedMs?: number;
}

export interface RssFigures {
  /** An agent of the same build against an empty cluster, settled. */
  emptyKb?: number;
  atReadyKb?: number;
  /** After the first sync, once the agent was idle. */
  settledKb?: number;
  /** VmHWM: the peak, reached during the sync. */
  peakKb?: number;
  /** After the change phases. */
  endKb?: number;
}

export interface Findings {
  cluster?: { nodes: number; namespaces: number; services: number; pods: number; endpoints: number; kernelServices: number; shape: string };
  load?: { objects: number; ms: number };
  lists: ListTiming[];
  sync: SyncFigures;
  rss: RssFigures;
  latency?: LatencyResult;
  rate?: RateResult;
  /** Why the agent could not be measured at all. */
  unavailable?: string;
  notes: string[];
}

export const fmtMs = (ms: number | undefined): string =>
  ms === undefined ? '-' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`;
const fmtMiB = (kb: number | undefined): string => (kb === undefined ? '-' : `${(kb / 1024).toFixed(0)} MiB`);
const fmtKB = (bytes: number | undefined): string => (bytes === undefined ? '-' : `${(bytes / 1024).toFixed(2)} KB`);
const fmtPct = (p: number | undefined): string => (p === undefined ? '-' : `${p.toFixed(0)} %`);
const n = (x: number): string => x.toLocaleString('en-US');

function verdict(value: number | undefined, goal: number, atMost = false): string {
  if (value === undefined) return 'not measured';
  return (atMost ? value <= goal : value < goal) ? 'met' : 'MISSED';
}

/** RSS per pod after the sync, in bytes (the goal's figure), and the part added by the cluster's objects. */
export function perPod(f: Findings): { total?: number; marginal?: number } {
  const pods = f.cluster?.pods ?? 0;
  const s = f.rss.settledKb;
  if (pods === 0 || s === undefined) return {};
  return { total: (s * 1024) / pods, ...(f.rss.emptyKb !== undefined && { marginal: ((s - f.rss.emptyKb) * 1024) / pods }) };
}

export function formatFindings(f: Findings): string {
  const c = f.cluster;
  const head = c
    ? `discovery at scale: ${n(c.pods)} pods, ${n(c.services)} services, ${n(c.endpoints)} endpoints, ${c.nodes} nodes, ${c.namespaces} namespaces (${c.shape} objects); ${c.kernelServices} kernel-mode services`
    : 'discovery at scale';
  const rows: string[][] = [];
  const row = (figure: string, value: string, goal = '', v = ''): number => rows.push([figure, value, goal, v]);
  if (f.load) row(`stand-in loaded (${n(f.load.objects)} objects)`, fmtMs(f.load.ms));
  for (const l of f.lists) row(`list ${l.path}, plain client (${n(l.items)}, ${(l.bytes / 1e6).toFixed(0)} MB)`, `${fmtMs(l.ms)} (parse ${fmtMs(l.parseMs)})`);
  const s = f.sync;
  if (s.emptyReadyMs !== undefined) row('agent start → ready, empty cluster', fmtMs(s.emptyReadyMs));
  if (s.startedMs !== undefined) row('agent start → informers started (log: agent started)', fmtMs(s.startedMs));
  if (s.listedMs?.Pod !== undefined) row('agent start → pods listed (log)', fmtMs(s.listedMs.Pod));
  if (s.discoverySyncedMs !== undefined) row(`agent start → discovery synced (log; metric ${s.syncedMetric ?? '-'})`, fmtMs(s.discoverySyncedMs));
  if (s.kernelMapsMs !== undefined) row('agent start → kernel maps synced (log)', fmtMs(s.kernelMapsMs));
  if (s.configAppliedMs !== undefined) row('agent start → config applied (log)', fmtMs(s.configAppliedMs));
  if (s.readyMs !== undefined || f.unavailable === undefined) row('agent start → ready (/healthz/ready)', fmtMs(s.readyMs), '< 3 s', verdict(s.readyMs, GOALS.syncMs));
  const r = f.rss;
  if (r.emptyKb !== undefined) row('agent RSS, empty cluster', fmtMiB(r.emptyKb));
  if (r.settledKb !== undefined) row('agent RSS after the sync (peak during it)', `${fmtMiB(r.settledKb)} (${fmtMiB(r.peakKb)})`);
  const pp = perPod(f);
  if (pp.total !== undefined || f.unavailable === undefined) row('RSS per pod', fmtKB(pp.total), '≤ 2 KB', verdict(pp.total, GOALS.rssPerPodBytes, true));
  if (pp.marginal !== undefined) row('  of which the objects (minus empty cluster)', fmtKB(pp.marginal));
  const l = f.latency;
  if (l) {
    row(`change → nm_backends p50 (${l.samples.length} of ${l.wanted} changes)`, fmtMs(l.p50Ms));
    row('change → nm_backends p99', fmtMs(l.p99Ms), '< 50 ms', verdict(l.p99Ms, GOALS.changeP99Ms));
    for (const k of ['add', 'remove'] as const) {
      const b = l.byKind[k];
      if (b) row(`  ${k === 'add' ? 'endpoint added → in the map' : 'endpoint removed → gone from the map'} p50 / p99 (${b.n})`, `${fmtMs(b.p50Ms)} / ${fmtMs(b.p99Ms)}`);
    }
  } else if (f.unavailable === undefined) row('change → nm_backends p99', '-', '< 50 ms', 'not measured');
  const rt = f.rate;
  if (rt) {
    row(`agent CPU at ${rt.rate} changes/s for ${rt.seconds} s (idle: ${fmtPct(rt.idleCpuPct)})`, `${fmtPct(rt.cpuPct)} of a core`);
    row('  last change in nm_backends, after the window', fmtMs(rt.lastChangeLagMs));
    row('  agent idle again, after the window', fmtMs(rt.drainMs));
  }
  if (r.endKb !== undefined) row('agent RSS at the end', fmtMiB(r.endKb));
  const lines = [head, formatGrid(['figure', 'value', 'goal', ''], rows), ANCHOR];
  if (f.unavailable) lines.push(`agent not measured: ${f.unavailable}`);
  if (l?.stoppedEarly) lines.push(`latency: ${l.stoppedEarly}`);
  for (const note of f.notes) lines.push(note);
  return lines.join('\n');
}
