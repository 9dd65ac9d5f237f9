// The agent's own process and the node it runs on: prom-client's default metrics (CPU, RSS, heap,
// event-loop lag, GC), istio_build (what Istio's mesh dashboard lists as component versions, as ztunnel
// reports it) and node facts read once after start, off the request path, from /etc/os-release,
// /proc/cpuinfo and node's os module (the label values of the systeminformation package, which this
// replaced: no library and no child processes for a few facts). A failed read is logged and leaves the
// info series out, it never stops the agent.
import { readFile } from 'node:fs/promises';
import * as os from 'node:os';
import { collectDefaultMetrics } from './promdefaults';
import { Gauge, type Registry } from './promlite';
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

/** KEY=value lines of an os-release file, quotes taken off. Pure. */
export function osReleaseFields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq).trim().toUpperCase()] = line.slice(eq + 1).trim().replace(/"/g, '');
  }
  return out;
}

/** Distribution and release from os-release fields ("Debian GNU/Linux", "12"). Pure. */
export function distroRelease(f: Readonly<Record<string, string>>): { distro?: string; release?: string } {
  const distro = f.DISTRIB_ID || f.NAME || undefined;
  let release = f.VERSION ?? '';
  const pretty = f.PRETTY_NAME ?? '';
  if (distro !== undefined && pretty.startsWith(`${distro} `)) release = pretty.slice(distro.length + 1).trim();
  if (release.includes('(')) release = (release.split('(')[0] as string).trim();
  return { distro, release: release || f.DISTRIB_RELEASE || f.VERSION_ID || undefined };
}

const VENDORS: readonly (readonly [string, string])[] = [
  ['intel', 'Intel'], ['amd', 'AMD'], ['qemu', 'QEMU'], ['hygon', 'Hygon'], ['centaur', 'WinChip/Via'], ['vmware', 'VMware'],
  ['tcg', 'QEMU'], ['apple', 'Apple'], ['sifive', 'SiFive'], ['thead', 'T-Head'], ['andestech', 'Andes Technology'],
];

/** A CPU model line ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz") as manufacturer and brand. Pure. */
export function cpuBrand(model: string): { manufacturer?: string; brand?: string } {
  let brand = (model.split('@')[0] as string).trim();
  if (brand.includes('Unknown')) brand = (brand.split('Unknown')[0] as string).trim();
  brand = brand.replace(/\(R\)+/g, '®').replace(/\(TM\)+/g, '™').replace(/\(C\)+/g, '©').replace(/CPU+/g, '').replace(/\s+/g, ' ').trim();
  if (brand === '') return {};
  const lower = brand.toLowerCase();
  let manufacturer = brand;
  for (const [needle, name] of VENDORS) if (lower.includes(needle)) manufacturer = name;
  if (brand.includes('Xen')) manufacturer = 'Xen Hypervisor';
  return { manufacturer, brand: brand.split(' ').slice(1).join(' ') };
}

/** The first "model name" of /proc/cpuinfo (x86), else what node's os module says. Pure. */
export function cpuModelLine(cpuinfo: string, fallback: string | undefined): string {
  const m = /^model name\s*:\s*(.+)$/m.exec(cpuinfo);
  return m?.[1]?.trim() || fallback || '';
}

const readText = (file: string): Promise<string> => readFile(file, 'utf8').catch(() => '');

/** Node facts from /etc/os-release (else /usr/lib/os-release), /proc/cpuinfo and node's os module. */
export async function readNodeFacts(): Promise<NodeFacts> {
  const [etc, lib, cpuinfo] = await Promise.all([readText('/etc/os-release'), readText('/usr/lib/os-release'), readText('/proc/cpuinfo')]);
  const cpus = os.cpus();
  const { distro, release } = distroRelease(osReleaseFields(etc || lib));
  return factsFrom(
    { platform: process.platform, distro, release, kernel: os.release(), arch: os.arch(), hostname: os.hostname() },
    { ...cpuBrand(cpuModelLine(cpuinfo, cpus[0]?.model)), cores: cpus.length },
    { total: os.totalmem() },
  );
}

/** Pure: the facts read to label values and numbers. */
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
