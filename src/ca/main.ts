// `nodemesh ca`: the mesh CA process. Which workload runs on which node comes from the mesh config (the
// WorkloadEntries) and/or the Kubernetes API (pods); callers prove their node with a node token from
// the node-tokens file and/or a ServiceAccount token checked by TokenReview. The root lives in a
// directory or in a Secret. Files are re-read on change, and a bad new version never replaces a good
// one. The Kubernetes client library is loaded only when the API is used: it takes seconds to load.
import { onlyFlags, str, type ParsedArgs } from '../cli';
import { checkObjectName } from '../config/formats';
import { formatIssues } from '../config/issues';
import type { LoadResult } from '../config/load';
import type { Workload } from '../config/model';
import { ConfigWatcher } from '../config/watch';
import { kubernetesAvailable } from '../discovery/available';
import { MeshError } from '../errors';
import type { CaMaterial } from '../identity/certs';
import { checkTrustDomain, DEFAULT_TRUST_DOMAIN } from '../identity/spiffe';
import { logger } from '../log';
import { DEFAULT_AGENT_ACCOUNT, DEFAULT_TOKEN_AUDIENCE, formatAccount, parseNamespacedFlag, type AccountRef } from './caller';
import type { CaKube } from './kube';
import { CaServer, DEFAULT_TTL_SECONDS } from './server';
import { NodeTokens } from './tokens';

const log = logger('ca.main');

export const CA_USAGE = `  nodemesh ca (--dir DIR | --root-secret NS/NAME [--root-configmap NAME]) [--listen 0.0.0.0:15012]
             [--kubeconfig FILE | --no-kubernetes] [--token-audience nodemesh-ca]
             [--agent-service-account nodemesh-system/nodemesh-agent] [--node-tokens FILE] [--config PATH]
             [--trust-domain cluster.local] [--max-ttl 24h] [--server-name NAME,...]
                                            run the mesh CA (Istio CreateCertificate over TLS).
                                            With the Kubernetes API (--kubeconfig, $KUBECONFIG or in a
                                            pod) it learns the pods of each node and checks the agents'
                                            ServiceAccount tokens by TokenReview; --node-tokens and
                                            --config (WorkloadEntries) work with or without it.
                                            The root lives in DIR, or in the Secret (created on first
                                            start), its certificate published in the ConfigMap.
`;

export const CA_FLAGS = ['listen', 'dir', 'trust-domain', 'node-tokens', 'config', 'max-ttl', 'server-name', 'kubeconfig', 'no-kubernetes', 'token-audience', 'agent-service-account', 'root-secret', 'root-configmap'] as const;

/** `3600`, `90s`, `30m`, `24h`, `7d` → seconds. */
export function parseSeconds(flag: string, v: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(v);
  const n = m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'] : NaN;
  if (!(n > 0)) throw new Error(`--${flag} must be a duration like 3600, 30m, 24h or 7d, got ${v}`);
  return n;
}

export interface CaKubernetes {
  /** undefined: $KUBECONFIG, else the in-cluster config. */
  readonly kubeconfig: string | undefined;
  readonly tokenAudience: string;
  readonly agentServiceAccount: AccountRef;
}

export interface CaCommand {
  readonly listen: string;
  /** File-based root (exactly one of dir and rootSecret). */
  readonly dir?: string;
  /** Root in this Secret (needs the API). */
  readonly rootSecret?: AccountRef;
  /** ConfigMap (in rootSecret's namespace) that publishes the root certificate. */
  readonly rootConfigMap?: string;
  readonly trustDomain: string;
  readonly nodeTokens?: string;
  readonly config?: string;
  /** Present when the Kubernetes API is used. */
  readonly kubernetes?: CaKubernetes;
  readonly maxTtlSeconds: number;
  readonly serverNames: string[];
}

/**
 * Flags → options; pure apart from looking for the API (env, in-cluster token file: `available`), so
 * usage errors are table-testable.
 */
export function caCommand(args: ParsedArgs, available: (kubeconfig: string | undefined) => boolean = kubernetesAvailable): CaCommand {
  onlyFlags(args, CA_FLAGS);
  const opt = (name: string): string | undefined => {
    const v = str(args, name);
    if (v === '') throw new Error(`--${name} must not be empty`);
    return v;
  };
  const trustDomain = str(args, 'trust-domain', DEFAULT_TRUST_DOMAIN) as string;
  const tdProblem = checkTrustDomain(trustDomain);
  if (tdProblem !== undefined) throw new Error(`--trust-domain must be a valid trust domain: ${tdProblem}`);
  const listen = str(args, 'listen', '0.0.0.0:15012') as string;
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(listen)) throw new Error(`--listen must be ADDR:PORT, got ${listen}`);
  const maxTtl = str(args, 'max-ttl');

  const kubeconfig = opt('kubeconfig');
  const noKube = args.flags.has('no-kubernetes');
  if (kubeconfig !== undefined && noKube) throw new Error('--kubeconfig and --no-kubernetes exclude each other');
  const useKube = !noKube && available(kubeconfig);
  const kubeOnly = ['token-audience', 'agent-service-account', 'root-secret', 'root-configmap'].filter((f) => args.flags.has(f));
  if (!useKube && kubeOnly.length > 0) {
    throw new Error(`--${kubeOnly[0]} needs the Kubernetes API (--kubeconfig FILE, $KUBECONFIG, or running in a pod)`);
  }
  const without = '(without the Kubernetes API: no --kubeconfig, no $KUBECONFIG, not in a pod)';
  const nodeTokens = opt('node-tokens');
  if (nodeTokens === undefined && !useKube) throw new Error(`--node-tokens is required ${without}`);
  const config = opt('config');
  if (config === undefined && !useKube) throw new Error(`--config is required ${without}`);

  const dir = opt('dir');
  const secret = opt('root-secret');
  if (dir !== undefined && secret !== undefined) throw new Error('--dir and --root-secret exclude each other (the root lives in one place)');
  if (dir === undefined && secret === undefined) throw new Error(useKube ? '--dir is required, or --root-secret NS/NAME' : '--dir is required');
  const rootSecret = secret !== undefined ? parseNamespacedFlag('root-secret', secret) : undefined;
  const rootConfigMap = opt('root-configmap');
  if (rootConfigMap !== undefined) {
    if (rootSecret === undefined) throw new Error("--root-configmap needs --root-secret NS/NAME (the ConfigMap goes in the Secret's namespace)");
    const p = checkObjectName(rootConfigMap);
    if (p !== undefined) throw new Error(`--root-configmap must be a ConfigMap name: ${p}`);
  }
  const kubernetes: CaKubernetes | undefined = useKube
    ? {
        kubeconfig,
        tokenAudience: opt('token-audience') ?? DEFAULT_TOKEN_AUDIENCE,
        agentServiceAccount: parseNamespacedFlag('agent-service-account', opt('agent-service-account') ?? DEFAULT_AGENT_ACCOUNT),
      }
    : undefined;
  return {
    listen,
    ...(dir !== undefined ? { dir } : {}),
    ...(rootSecret !== undefined ? { rootSecret } : {}),
    ...(rootConfigMap !== undefined ? { rootConfigMap } : {}),
    trustDomain,
    ...(nodeTokens !== undefined ? { nodeTokens } : {}),
    ...(config !== undefined ? { config } : {}),
    ...(kubernetes !== undefined ? { kubernetes } : {}),
    maxTtlSeconds: maxTtl === undefined ? DEFAULT_TTL_SECONDS : parseSeconds('max-ttl', maxTtl),
    serverNames: (str(args, 'server-name') ?? '').split(',').filter((s) => s !== ''),
  };
}

/** Follows the mesh config; resolves once the first version loaded (a bad first version is fatal). */
async function watchConfig(file: string): Promise<{ watcher: ConfigWatcher; workloads: () => readonly Workload[] }> {
  let workloads: readonly Workload[] | undefined;
  let firstIssues: string | undefined;
  const watcher = new ConfigWatcher(file, (r: LoadResult) => {
    if (r.ok) {
      workloads = r.config.workloads;
      log.info({ workloads: workloads.length, hash: r.config.source.hash }, 'topology loaded');
    } else if (workloads === undefined) {
      firstIssues = formatIssues(r.issues);
    } else {
      log.error({ code: 'NM_E_CONFIG_SCHEMA' }, `config rejected, the previous topology stays in force:\n${formatIssues(r.issues)}`);
    }
  });
  await watcher.start();
  if (workloads === undefined) {
    watcher.stop();
    throw new MeshError('CONFIG_SCHEMA', `\n${firstIssues ?? `${file} could not be loaded`}`);
  }
  return { watcher, workloads: () => workloads ?? [] };
}

/** The root from the Secret (published in the ConfigMap when asked), loading the client code lazily. */
async function rootFromSecret(cmd: CaCommand, kube: CaKube): Promise<CaMaterial> {
  const { loadOrCreateRootSecret, publishRootConfigMap } = await import('./kube-root');
  const secret = cmd.rootSecret as AccountRef;
  const { ca } = await loadOrCreateRootSecret(kube.kc, secret, cmd.trustDomain);
  if (cmd.rootConfigMap !== undefined) await publishRootConfigMap(kube.kc, { namespace: secret.namespace, name: cmd.rootConfigMap }, ca.certPem);
  return ca;
}

/** Runs until SIGTERM/SIGINT; resolves with the exit code. */
export async function runCa(args: ParsedArgs): Promise<number> {
  const cmd = caCommand(args);
  const tokens = cmd.nodeTokens !== undefined ? NodeTokens.fromFile(cmd.nodeTokens) : undefined;
  const cfg = cmd.config !== undefined ? await watchConfig(cmd.config) : undefined;
  let kube: CaKube | undefined;
  let server: CaServer;
  try {
    if (cmd.kubernetes !== undefined) {
      const k = cmd.kubernetes;
      const { CaKube } = await import('./kube');
      kube = CaKube.start({ kubeconfig: k.kubeconfig, audience: k.tokenAudience, agent: k.agentServiceAccount });
    }
    const root = kube !== undefined && cmd.rootSecret !== undefined ? await rootFromSecret(cmd, kube) : undefined;
    server = await CaServer.start({
      listen: cmd.listen,
      ...(root !== undefined ? { root } : { dir: cmd.dir as string }),
      trustDomain: cmd.trustDomain,
      ...(tokens !== undefined ? { tokens } : {}),
      ...(kube !== undefined ? { authenticator: kube.authenticator, pods: kube.pods } : {}),
      ...(cfg !== undefined ? { topology: cfg.workloads } : {}),
      maxTtlSeconds: cmd.maxTtlSeconds,
      defaultTtlSeconds: Math.min(DEFAULT_TTL_SECONDS, cmd.maxTtlSeconds),
      serverNames: cmd.serverNames,
    });
  } catch (e) {
    cfg?.watcher.stop();
    kube?.stop();
    throw e;
  }
  log.info(
    {
      listen: cmd.listen,
      port: server.port,
      nodes: tokens?.nodes.length ?? 0,
      kubernetes: kube !== undefined,
      ...(cmd.kubernetes ? { audience: cmd.kubernetes.tokenAudience, agent: formatAccount(cmd.kubernetes.agentServiceAccount) } : {}),
      pid: process.pid,
    },
    'CA started',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'CA stopping');
      cfg?.watcher.stop();
      kube?.stop();
      void server.stop().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
