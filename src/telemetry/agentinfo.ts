// The agent's own process and the node it runs on: prom-client's default metrics (CPU, RSS, heap,
// event-loop lag, GC), istio_build (what Istio's mesh dashboard lists as component versions, as ztunnel
// reports it) and node facts read once from `systeminformation`. The facts are read after start, off the
// request path, with the library imported only then (it is big and spawns a few short commands); a
// failed read is logged and leaves the info series out, it never stops the agent.
import { collectDefaultMetrics, Gauge, type Registry } from 'prom-client';
import { logger } from '../log';
import { packageVersion } from '../version';

const log = logger('telemetry');

export const NODE_INFO_LABELS = ['os', 'distro', 'release', 'kernel', 'arch', 'cpu_model', 'hostname'] as const;
type NodeInfoLabel = (typeof NODE_INFO_LABELS)[number];

/** What the node says about itself; every string "unknown" when the node did not say. */
export interface NodeFacts {
  readonly info: Readonly<Record<NodeInfoLabel, string>>;
  readonly cpus: number;
  readonly memoryBytes: number;
}

/** The agent's version from package.json (version.ts), else "unknown". */
export function agentVersion(): string {
  return packageVersion() ?? 'unknown';
}

/**
 * prom-client's default metrics and istio_build on `registry`. Idempotent per registry (a second agent in
 * the same process, as in tests, finds them registered).
 */
export function registerProcessMetrics(registry: Registry, version = agentVersion()): void {
  if (registry.getSingleMetric('process_cpu_seconds_total') === undefined) collectDefaultMetrics({ register: registry });
  if (registry.getSingleMetric('istio_build') === undefined) {
    const build = new Gauge({ name: 'istio_build', help: 'Build of this component (component, tag), as Istio components report it', labelNames: ['component', 'tag'], registers: [registry] });
    build.set({ component: 'nodemesh', tag: version }, 1);
  }
}

const str = (v: unknown): string => (typeof v === 'string' && v.trim() !== '' ? v.trim() : 'unknown');

/** Node facts from `systeminformation`, imported on first use. */
export async function readNodeFacts(): Promise<NodeFacts> {
  const si = await import('systeminformation');
  const [os, cpu, mem] = await Promise.all([si.osInfo(), si.cpu(), si.mem()]);
  return factsFrom(os, cpu, mem);
}

/** Pure: the library's answers to label values and numbers. */
export function factsFrom(
  os: { platform?: string; distro?: string; release?: string; kernel?: string; arch?: string; hostname?: string },
  cpu: { manufacturer?: string; brand?: string; cores?: number },
  mem: { total?: number },
): NodeFacts {
  const model = [cpu.manufacturer, cpu.brand].filter((s) => typeof s === 'string' && s.trim() !== '').join(' ');
  return {
    info: {
      os: str(os.platform),
      distro: str(os.distro),
      release: str(os.release),
      kernel: str(os.kernel),
      arch: str(os.arch),
      cpu_model: str(model),
      hostname: str(os.hostname),
    },
    cpus: Number.isFinite(cpu.cores) ? (cpu.cores as number) : 0,
    memoryBytes: Number.isFinite(mem.total) ? (mem.total as number) : 0,
  };
}

/**
 * Reads the node facts once and registers nodemesh_node_info{…} 1, nodemesh_node_cpus and
 * nodemesh_node_memory_bytes with them. Never rejects: a failed read is logged and no fact series appear
 * (rather than zeros). Resolves true when the facts are in.
 */
export async function collectNodeFacts(registry: Registry, read: () => Promise<NodeFacts> = readNodeFacts): Promise<boolean> {
  let f: NodeFacts;
  try {
    f = await read();
  } catch (e) {
    log.warn({ err: e }, 'reading node facts failed; nodemesh_node_info stays empty');
    return false;
  }
  if (registry.getSingleMetric('nodemesh_node_info') !== undefined) return false;
  const registers = [registry];
  new Gauge({ name: 'nodemesh_node_info', help: 'Facts about the node the agent runs on (value 1), read once at start', labelNames: NODE_INFO_LABELS, registers }).set(f.info, 1);
  if (f.cpus > 0) new Gauge({ name: 'nodemesh_node_cpus', help: 'CPU cores of the node, read once at start', registers }).set(f.cpus);
  if (f.memoryBytes > 0) new Gauge({ name: 'nodemesh_node_memory_bytes', help: 'Memory of the node in bytes, read once at start', registers }).set(f.memoryBytes);
  return true;
}
