// `nodemesh check PATH`: validate a config without starting anything; exit status 0 when it would load.
import { capacityProblem, mapNeeds, resolveCapacity, type MapCapacity } from '../capture/capacity';
import { planMaps } from '../capture/plan';
import { formatIssues, loadConfig } from './load';
import type { MeshConfig } from './model';

export interface CheckOptions {
  /** Kernel map capacities the agent runs with (--max-services, --max-backends); defaults: maps.h. */
  readonly capacity?: Partial<MapCapacity>;
}

/** runCheck(path, opts?, out?, err?); the older runCheck(path, out?, err?) still works. */
export async function runCheck(
  path: string,
  optsOrOut: CheckOptions | NodeJS.WritableStream = {},
  ...streams: NodeJS.WritableStream[]
): Promise<number> {
  const legacy = 'write' in optsOrOut;
  const opts: CheckOptions = legacy ? {} : (optsOrOut as CheckOptions);
  const [out = process.stdout, err = process.stderr] = legacy ? [optsOrOut as NodeJS.WritableStream, ...streams] : streams;
  const result = await loadConfig(path);
  if (!result.ok) {
    const n = result.issues.length;
    err.write(`${formatIssues(result.issues)}\n${path}: invalid config (${n} problem${n === 1 ? '' : 's'})\n`);
    return 1;
  }
  if (result.warnings.length > 0) {
    err.write(`${formatIssues(result.warnings).replace(/^/gm, 'warning: ')}\n`);
  }
  // The same count and limit the agent applies before it writes the kernel maps.
  const problem = capacityProblem(mapNeeds(planMaps(result.config)), resolveCapacity(opts.capacity));
  if (problem) {
    err.write(`${path}: the config does not fit the kernel maps: ${problem}\n`);
    return 1;
  }
  out.write(summarize(result.config));
  return 0;
}

/** A totals line, then one line per service. */
export function summarize(config: MeshConfig): string {
  const s = config.services;
  const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  const vips = new Set(s.flatMap((x) => x.addresses)).size;
  const ports = s.reduce((n, x) => n + x.ports.length, 0);
  const endpoints = s.reduce((n, x) => n + x.endpoints.length, 0);
  const kernel = s.filter((x) => x.dataplane === 'kernel').length;
  const lines = [
    `OK: ${count(s.length, 'service')}, ${count(vips, 'VIP')}, ${count(ports, 'port')}, ${count(endpoints, 'endpoint')}, ` +
      `${count(config.workloads.length, 'workload')}; dataplane: ${s.length - kernel} proxy, ${kernel} kernel`,
  ];
  for (const x of s) {
    const portList = x.ports.map((p) => `${p.number}/${p.protocol ?? 'sniff'}${p.targetPort !== p.number ? `->${p.targetPort}` : ''}`);
    lines.push(
      `  ${x.key}  ${x.dataplane}  vips=${x.addresses.join(',') || '-'}  ports=${portList.join(',')}  endpoints=${x.endpoints.length}  hosts=${x.hosts.join(',')}`,
    );
  }
  lines.push(`  files: ${config.source.files.join(', ')}  hash: ${config.source.hash.slice(0, 12)}`);
  return `${lines.join('\n')}\n`;
}
