// `nodemesh check PATH`: validate a config without starting anything; exit status 0 when it would load.
import { capacityProblem, mapNeeds, resolveCapacity, type MapCapacity } from '../capture/capacity';
import { planMaps } from '../capture/plan';
import { formatIssues, loadConfig } from './load';
import { WHOLE_FILE } from './issues';
import { allocate } from '../dns/view';
import type { ConfigIssue, MeshConfig, Service } from './model';

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
  // Offline, check cannot know whether the agent will run with Kubernetes discovery: it reads the config
  // as an agent with discovery does, and warns where an agent without it would refuse it.
  const result = await loadConfig(path, { secrets: true });
  if (!result.ok) {
    const n = result.issues.length;
    err.write(`${formatIssues(result.issues)}\n${path}: invalid config (${n} problem${n === 1 ? '' : 's'})\n`);
    return 1;
  }
  const warnings = [...result.warnings, ...(await needsDiscovery(path)), ...unenforced(path, result.config)];
  if (warnings.length > 0) {
    err.write(`${formatIssues(warnings).replace(/^/gm, 'warning: ')}\n`);
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

/** The credentialName fields an agent without Kubernetes discovery refuses (it cannot read Secrets). */
async function needsDiscovery(path: string): Promise<ConfigIssue[]> {
  const plain = await loadConfig(path);
  if (plain.ok) return [];
  return plain.issues
    .filter((i) => i.field?.endsWith('credentialName') === true)
    .map((i) => ({ ...i, message: 'names a Kubernetes Secret: the agent must run with Kubernetes discovery (an agent without it refuses this config); or mount the Secret as files and set clientCertificate, privateKey and caCertificates' }));
}

/**
 * Security policies that a file without Node documents leaves unenforced: without nodes there is no
 * tunnel and no identity, so only an agent that gets its nodes from Kubernetes discovery applies them.
 */
export function unenforced(path: string, config: MeshConfig): ConfigIssue[] {
  if (config.nodes.length > 0) return [];
  const named = [
    ...config.peerAuthentications.map((p) => `PeerAuthentication ${p.namespace}/${p.name}`),
    ...config.authorizationPolicies.map((p) => `AuthorizationPolicy ${p.namespace}/${p.name}`),
  ];
  if (named.length === 0) return [];
  return [{
    file: path,
    document: WHOLE_FILE,
    message: `${named.join(', ')} ${named.length === 1 ? 'is' : 'are'} enforced only in a mesh with nodes: add the nodemesh.io/v1alpha1 Node documents, or run the agent with Kubernetes discovery (its Nodes count); without them the agent runs no tunnel and no policy`,
  }];
}

/**
 * A totals line, then one line per service. A ServiceEntry without addresses shows the addresses the
 * agent's DNS proxy allocates for its hosts (`(auto)`), and one resolved by DNS the names it looks up.
 */
export function summarize(config: MeshConfig): string {
  const s = config.services;
  const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  const vips = new Set(s.flatMap((x) => x.addresses)).size;
  const alloc = allocate(config);
  const autoVips = (x: Service): string[] => (x.addresses.length > 0 ? [] : x.hosts.flatMap((h) => (alloc.has(h) ? [alloc.get(h)!] : [])));
  const ports = s.reduce((n, x) => n + x.ports.length, 0);
  const endpoints = s.reduce((n, x) => n + x.endpoints.length, 0);
  const kernel = s.filter((x) => x.dataplane === 'kernel').length;
  const lines = [
    `OK: ${count(s.length, 'service')}, ${count(vips, 'VIP')}, ${count(ports, 'port')}, ${count(endpoints, 'endpoint')}, ` +
      `${count(config.workloads.length, 'workload')}; dataplane: ${s.length - kernel} proxy, ${kernel} kernel`,
  ];
  for (const x of s) {
    const portList = x.ports.map((p) => `${p.number}/${p.protocol ?? 'sniff'}${p.targetPort !== p.number ? `->${p.targetPort}` : ''}`);
    const auto = autoVips(x);
    const vipList = x.addresses.length > 0 ? x.addresses.join(',') : auto.length > 0 ? `${auto.join(',')}(auto)` : '-';
    const names = (x.dnsEndpoints ?? []).map((e) => e.address);
    const dns = x.resolution === 'DNS' || x.resolution === 'DNS_ROUND_ROBIN' ? `  ${x.resolution}=${names.join(',') || '-'}` : x.resolution === 'NONE' ? '  resolution=NONE' : '';
    lines.push(
      `  ${x.key}  ${x.dataplane}  vips=${vipList}  ports=${portList.join(',')}  endpoints=${x.endpoints.length}${dns}  hosts=${x.hosts.join(',')}`,
    );
  }
  if (alloc.size > 0) lines.push(`  (auto): allocated from 240.240.0.0/16 by the agent's DNS proxy (on with capture, off with --no-dns), as Istio's DNS auto-allocation`);
  lines.push(`  files: ${config.source.files.join(', ')}  hash: ${config.source.hash.slice(0, 12)}`);
  return `${lines.join('\n')}\n`;
}
