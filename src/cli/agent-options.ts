// `nodemesh agent` flags → AgentOptions. The environment (hostname, whether the API is reachable, which
// files exist) comes in as arguments, so the rules between flags are table-testable.
import * as path from 'node:path';
import type { AgentOptions } from '../options';
import { CAPACITY_FLAGS, type MapCapacity } from '../capture/capacity';
import { checkLocality } from '../config/kinds/locality';
import { MeshError } from '../errors';
import type { Flags } from './parse';
import { UsageError } from './values';
import { workerCount, type AllowedCpus } from '../workers/cpus';

export interface AgentEnv {
  readonly hostname: string;
  /** The compiled eBPF objects of this install (--bpf-objects' default). */
  readonly defaultObjects: string;
  readonly kubernetesAvailable: (kubeconfig: string | undefined) => boolean;
  readonly exists: (file: string) => boolean;
  /** What the agent's cgroup allows (workers/cpus.ts); without it one worker unless --workers says. */
  readonly allowedCpus?: () => AllowedCpus;
}

export function agentOptions(f: Flags, env: AgentEnv): AgentOptions {
  const usage = (m: string): UsageError => new UsageError(m, 'agent');
  const config = f.text('config');
  const kubeconfig = f.text('kubeconfig');
  if (kubeconfig !== undefined && f.bool('no-kubernetes')) throw usage('--kubeconfig and --no-kubernetes exclude each other');
  // Discovery is on in a pod (in-cluster config), with --kubeconfig, or with $KUBECONFIG, like kubectl.
  const kubernetes = !f.bool('no-kubernetes') && env.kubernetesAvailable(kubeconfig) ? { kubeconfig } : undefined;
  if (config === undefined && !kubernetes) throw usage('--config PATH is required without Kubernetes discovery (--kubeconfig FILE, $KUBECONFIG, or running in a pod)');
  if (config !== undefined && !env.exists(config)) throw new MeshError('CONFIG_READ', `${config} does not exist (--config)`);
  const num = (name: string): number => f.num(name) as number;
  const text = (name: string): string => f.text(name) as string;
  // Given only: the agent's own defaults apply otherwise (the table documents them).
  const ifGiven = <K extends string>(key: K, name: string, v: (ms: number) => number = (x) => x): { [P in K]?: number } =>
    (f.given(name) ? { [key]: v(num(name)) } : {}) as { [P in K]?: number };
  const capacity: Partial<MapCapacity> = {};
  for (const [key, flag] of Object.entries(CAPACITY_FLAGS) as [keyof MapCapacity, string][]) {
    const name = flag.slice(2);
    if (f.given(name)) capacity[key] = num(name);
  }
  return {
    config,
    ...(kubernetes ? { kubernetes } : {}),
    clusterId: text('cluster-id'),
    clusterDomain: text('cluster-domain'),
    capture: !f.bool('no-capture'),
    cgroup: text('cgroup'),
    bpffs: text('bpffs'),
    objects: path.resolve(f.text('bpf-objects') ?? env.defaultObjects),
    node: f.text('node') ?? env.hostname,
    ...localityOption(f.text('locality')),
    nodeIp: text('node-ip'),
    outboundPort: num('outbound-port'),
    adminHost: text('admin-host'),
    metricsPort: num('metrics-port'),
    readyPort: num('ready-port'),
    ...(f.bool('no-admin-api') ? {} : { adminPort: num('admin-port') }),
    accessLog: text('access-log') === 'on',
    trustDomain: text('trust-domain'),
    tunnelPort: num('tunnel-port'),
    ...(num('trusted-proxies') > 0 ? { trustedProxies: num('trusted-proxies') } : {}),
    deliveryAddress: text('delivery-address'),
    ...caOption(f),
    ...ifGiven('certTtlSeconds', 'cert-ttl', (ms) => Math.max(1, Math.round(ms / 1000))),
    ...ifGiven('connectTimeoutMs', 'connect-timeout'),
    ...ifGiven('requestTimeoutMs', 'request-timeout'),
    ...ifGiven('headerTimeoutMs', 'header-timeout'),
    ...ifGiven('idleTimeoutMs', 'idle-timeout'),
    ...ifGiven('drainTimeoutMs', 'drain-timeout'),
    workers: workerCount(f.given('workers') ? num('workers') : undefined, env.allowedCpus?.() ?? { cpus: 1, by: 'affinity' }),
    ...(Object.keys(capacity).length > 0 ? { mapCapacity: capacity } : {}),
    ...dnsOptions(f),
  };
}

/** --dns-port, --dns-upstream, --no-dns: set only when given (the agent's defaults apply otherwise). */
function dnsOptions(f: Flags): Pick<AgentOptions, 'dnsPort' | 'dnsUpstream' | 'dnsProxy'> {
  const upstream = f.text('dns-upstream');
  const servers = upstream?.split(',').map((x) => x.trim());
  const bad = servers?.find((x) => !/^(\d{1,3}\.){3}\d{1,3}(:\d{1,5})?$/.test(x) || x.split(':')[0]!.split('.').some((o) => Number(o) > 255) || Number(x.split(':')[1] ?? 53) < 1 || Number(x.split(':')[1] ?? 53) > 65535);
  if (bad !== undefined) throw new UsageError(`--dns-upstream: "${bad}" is not IP or IP:PORT (IPv4; several separated by commas)`, 'agent');
  return {
    ...(f.given('dns-port') ? { dnsPort: f.num('dns-port') as number } : {}),
    ...(servers !== undefined ? { dnsUpstream: servers } : {}),
    ...(f.bool('no-dns') ? { dnsProxy: false } : {}),
  };
}

/** --ca ADDR:PORT needs --ca-root and --node-token; without --ca the agent embeds a CA. */
function caOption(f: Flags): Pick<AgentOptions, 'ca'> {
  const address = f.text('ca');
  if (address === undefined) {
    if (f.given('ca-root') || f.given('node-token')) throw new UsageError('--ca-root and --node-token need --ca ADDR:PORT', 'agent');
    return {};
  }
  const rootFile = f.text('ca-root');
  const tokenFile = f.text('node-token');
  if (rootFile === undefined || tokenFile === undefined) throw new UsageError('--ca needs --ca-root FILE and --node-token FILE', 'agent');
  return { ca: { address, rootFile, tokenFile } };
}

/** --locality region/zone/subzone, checked as a WorkloadEntry's locality is. */
function localityOption(value: string | undefined): { locality?: string } {
  if (value === undefined) return {};
  const problem = checkLocality(value);
  if (problem !== undefined) throw new UsageError(`--locality ${problem}`, 'agent');
  return { locality: value };
}
