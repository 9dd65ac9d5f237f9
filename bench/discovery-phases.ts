// The two change phases of the discovery scale bench, both driving the stand-in while one agent runs:
//   latency: one EndpointSlice change of a kernel-mode service at a time (an endpoint added, then removed
//            again), timed from the write into the stand-in until the pinned nm_backends map shows it;
//   rate:    endpoint changes at a fixed rate (ready flipped on one endpoint of a random proxy-mode
//            service), with the agent's CPU time over the window; the last change is a kernel-mode one,
//            so its arrival in the map says how far behind the agent was when the window closed.
import type { KubeApiServer } from '../test/helpers/kubeapi';
import { extraIP, sliceObject, TARGET_PORT, type ClusterSpec } from './discovery-cluster';
import { percentile, sleep, waitIdle, type BackendsMap } from './discovery-probe';
import { readCpuMs } from './procs';

export interface LatencySample {
  readonly kind: 'add' | 'remove';
  readonly service: number;
  readonly ms: number;
}

export interface KindStats {
  readonly n: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
}

export interface LatencyResult {
  readonly wanted: number;
  readonly samples: LatencySample[];
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly maxMs?: number;
  /** The same split by kind: an endpoint showing up, and one going away. */
  readonly byKind: { add?: KindStats; remove?: KindStats };
  /** Why fewer changes than wanted were made (time budget, a change that never showed). */
  readonly stoppedEarly?: string;
  /** Mean wait for the agent to go idle after a change showed (its work after the map update). */
  readonly meanSettleMs?: number;
}

export interface Tracker {
  /** Kernel-mode services' extra endpoints now in the stand-in (service → address). */
  readonly extras: Map<number, string>;
}

const POLL_MS = 1;

/** Polls `read` every millisecond until `done` holds; resolves to the elapsed ms, or undefined on timeout. */
async function until(read: () => string[], done: (entries: string[]) => boolean, t0: number, timeoutMs: number): Promise<number | undefined> {
  while (performance.now() - t0 < timeoutMs) {
    let entries: string[] = [];
    try {
      entries = read();
    } catch {
      // The map is briefly unreadable only if the agent is replacing pins: poll again.
    }
    if (done(entries)) return performance.now() - t0;
    await sleep(POLL_MS);
  }
  return undefined;
}

/** The check for one change: its endpoint is there (add), or gone with every other backend still there. */
function shows(c: ClusterSpec, t: Tracker, kind: 'add' | 'remove', address: string): (entries: string[]) => boolean {
  const want = `${address}:${TARGET_PORT}`;
  // A walk of the map that races a prune can miss entries: "gone" counts only on a complete read.
  const total = c.kernelServices * c.podsPerService + t.extras.size;
  return kind === 'add' ? (e) => e.includes(want) : (e) => !e.includes(want) && e.length === total;
}

/** Applies one kernel-mode change (add an extra endpoint where there is none, else remove it); returns what to wait for. */
function kernelChange(api: KubeApiServer, c: ClusterSpec, t: Tracker, s: number, n: number): { kind: 'add' | 'remove'; address: string } {
  const cur = t.extras.get(s);
  if (cur !== undefined) {
    t.extras.delete(s);
    api.apply(sliceObject(c, s));
    return { kind: 'remove', address: cur };
  }
  const ip = extraIP(n);
  t.extras.set(s, ip);
  api.apply(sliceObject(c, s, { extra: { ip, name: `extra-${n}` } }));
  return { kind: 'add', address: ip };
}

/** Waits until the map holds every kernel-mode endpoint of the cluster (the agent's first sync reached it). */
export async function kernelBaseline(map: BackendsMap, c: ClusterSpec, timeoutMs: number): Promise<number | undefined> {
  const total = c.kernelServices * c.podsPerService;
  return until(() => map.read(), (e) => e.length === total, performance.now(), timeoutMs);
}

/**
 * Up to `wanted` changes, one at a time, within `budgetMs`. After each one shows in the map the agent is
 * left to finish (CPU idle) so that the next change is measured alone, not queued behind the previous.
 */
export async function measureLatency(
  api: KubeApiServer, c: ClusterSpec, map: BackendsMap, pid: number | undefined, t: Tracker, wanted: number, budgetMs: number, perChangeMs = 30_000,
): Promise<LatencyResult> {
  const samples: LatencySample[] = [];
  const settles: number[] = [];
  const start = performance.now();
  let stoppedEarly: string | undefined;
  for (let i = 0; i < wanted; i++) {
    if (performance.now() - start > budgetMs) {
      stoppedEarly = `time budget of ${Math.round(budgetMs / 1000)} s used up after ${i} of ${wanted} changes`;
      break;
    }
    const s = i % c.kernelServices;
    const t0 = performance.now();
    const ch = kernelChange(api, c, t, s, i);
    const ms = await until(() => map.read(), shows(c, t, ch.kind, ch.address), t0, perChangeMs);
    if (ms === undefined) {
      stoppedEarly = `change ${i + 1} (${ch.kind} ${ch.address} in svc-${s}) did not show in nm_backends within ${perChangeMs / 1000} s`;
      break;
    }
    samples.push({ kind: ch.kind, service: s, ms });
    settles.push((await waitIdle(pid, 100, 10, perChangeMs)).ms);
  }
  const ms = samples.map((x) => x.ms);
  const stats = (kind: 'add' | 'remove'): KindStats | undefined => {
    const xs = samples.filter((x) => x.kind === kind).map((x) => x.ms);
    return xs.length > 0 ? { n: xs.length, p50Ms: percentile(xs, 50), p99Ms: percentile(xs, 99) } : undefined;
  };
  const add = stats('add');
  const remove = stats('remove');
  return {
    wanted,
    samples,
    byKind: { ...(add && { add }), ...(remove && { remove }) },
    ...(ms.length > 0 && { p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99), maxMs: Math.max(...ms) }),
    ...(settles.length > 0 && { meanSettleMs: settles.reduce((a, b) => a + b, 0) / settles.length }),
    ...(stoppedEarly !== undefined && { stoppedEarly }),
  };
}

export interface RateResult {
  readonly rate: number;
  readonly seconds: number;
  /** Changes written into the stand-in during the window, and how long the window really was. */
  readonly changes: number;
  readonly windowMs: number;
  /** Agent CPU (user + system) during the window, % of one core. */
  readonly cpuPct?: number;
  /** Agent CPU at rest just before the window (bookmarks, timers), % of one core. */
  readonly idleCpuPct?: number;
  /** From the end of the window until the last change (a kernel-mode one) showed in nm_backends. */
  readonly lastChangeLagMs?: number;
  /** From the end of the window until the agent went idle, and the CPU it used meanwhile (ms). */
  readonly drainMs?: number;
  readonly drainCpuMs?: number;
}

/**
 * `rate` endpoint changes per second for `seconds`, paced on a fixed schedule (a late tick catches up, so
 * the count is exact). Proxy-mode services only, except the last change (kernel-mode, to time the lag).
 */
export async function measureRate(
  api: KubeApiServer, c: ClusterSpec, map: BackendsMap, pid: number | undefined, t: Tracker, rate: number, seconds: number,
): Promise<RateResult> {
  const proxyServices = c.services - c.kernelServices;
  if (proxyServices <= 0) throw new Error('the rate phase needs proxy-mode services');
  await waitIdle(pid, 200, 10, 30_000);
  const idle0 = readCpuMs(pid);
  await sleep(1000);
  const idle1 = readCpuMs(pid);
  const notReady = new Map<number, number>();
  // A fixed pseudo-random walk over the services, the same in every run.
  let seed = 12345;
  const next = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8);
  const total = rate * seconds;
  const cpu0 = readCpuMs(pid);
  const t0 = performance.now();
  let last: { kind: 'add' | 'remove'; address: string } | undefined;
  for (let k = 0; k < total; ) {
    const wait = t0 + (k * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
    for (; k < due; k++) {
      if (k === total - 1) {
        const s = next() % c.kernelServices;
        last = kernelChange(api, c, t, s, 100_000 + k);
        continue;
      }
      const s = c.kernelServices + (next() % proxyServices);
      const was = notReady.get(s);
      if (was !== undefined) notReady.delete(s);
      else notReady.set(s, next() % c.podsPerService);
      const nr = notReady.get(s);
      api.apply(sliceObject(c, s, nr !== undefined ? { notReady: nr } : {}));
    }
  }
  const windowMs = performance.now() - t0;
  const cpu1 = readCpuMs(pid);
  const tEnd = performance.now();
  const lag = last ? await until(() => map.read(), shows(c, t, last.kind, last.address), tEnd, 120_000) : undefined;
  const drainStart = performance.now();
  const drain = await waitIdle(pid, 200, 10, 120_000);
  const cpu2 = readCpuMs(pid);
  // Put every proxy-mode slice back as it was, so later phases start from the loaded cluster.
  for (const s of notReady.keys()) api.apply(sliceObject(c, s));
  const pct = (a: number | undefined, b: number | undefined, ms: number): number | undefined => (a !== undefined && b !== undefined ? ((b - a) / ms) * 100 : undefined);
  return {
    rate,
    seconds,
    changes: total,
    windowMs,
    ...(cpu0 !== undefined && cpu1 !== undefined && { cpuPct: pct(cpu0, cpu1, windowMs) }),
    ...(idle0 !== undefined && idle1 !== undefined && { idleCpuPct: pct(idle0, idle1, 1000) }),
    ...(lag !== undefined && { lastChangeLagMs: lag }),
    drainMs: drainStart - tEnd + drain.ms,
    ...(cpu1 !== undefined && cpu2 !== undefined && { drainCpuMs: cpu2 - cpu1 }),
  };
}
