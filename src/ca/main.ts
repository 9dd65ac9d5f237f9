// `nodemesh ca`: the mesh CA process. It follows the mesh config (the WorkloadEntries say which
// workload runs on which node) and the node-tokens file; both are re-read on change, and a bad new
// version never replaces a good one.
import { onlyFlags, str, type ParsedArgs } from '../cli';
import { formatIssues } from '../config/issues';
import type { LoadResult } from '../config/load';
import type { Workload } from '../config/model';
import { ConfigWatcher } from '../config/watch';
import { MeshError } from '../errors';
import { checkTrustDomain, DEFAULT_TRUST_DOMAIN } from '../identity/spiffe';
import { logger } from '../log';
import { CaServer, DEFAULT_TTL_SECONDS } from './server';
import { NodeTokens } from './tokens';

const log = logger('ca.main');

export const CA_USAGE = `  nodemesh ca --dir DIR --node-tokens FILE --config PATH [--listen 0.0.0.0:15012]
             [--trust-domain cluster.local] [--max-ttl 24h] [--server-name NAME,...]
                                            run the mesh CA (Istio CreateCertificate over TLS)
`;

export const CA_FLAGS = ['listen', 'dir', 'trust-domain', 'node-tokens', 'config', 'max-ttl', 'server-name'] as const;

/** `3600`, `90s`, `30m`, `24h`, `7d` → seconds. */
export function parseSeconds(flag: string, v: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(v);
  const n = m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'] : NaN;
  if (!(n > 0)) throw new Error(`--${flag} must be a duration like 3600, 30m, 24h or 7d, got ${v}`);
  return n;
}

export interface CaCommand {
  readonly listen: string;
  readonly dir: string;
  readonly trustDomain: string;
  readonly nodeTokens: string;
  readonly config: string;
  readonly maxTtlSeconds: number;
  readonly serverNames: string[];
}

/** Flags → options; pure, so usage errors are table-testable. */
export function caCommand(args: ParsedArgs): CaCommand {
  onlyFlags(args, CA_FLAGS);
  const need = (name: string): string => {
    const v = str(args, name);
    if (v === undefined || v === '') throw new Error(`--${name} is required`);
    return v;
  };
  const trustDomain = str(args, 'trust-domain', DEFAULT_TRUST_DOMAIN) as string;
  const tdProblem = checkTrustDomain(trustDomain);
  if (tdProblem !== undefined) throw new Error(`--trust-domain must be a valid trust domain: ${tdProblem}`);
  const listen = str(args, 'listen', '0.0.0.0:15012') as string;
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(listen)) throw new Error(`--listen must be ADDR:PORT, got ${listen}`);
  const maxTtl = str(args, 'max-ttl');
  return {
    listen,
    dir: need('dir'),
    trustDomain,
    nodeTokens: need('node-tokens'),
    config: need('config'),
    maxTtlSeconds: maxTtl === undefined ? DEFAULT_TTL_SECONDS : parseSeconds('max-ttl', maxTtl),
    serverNames: (str(args, 'server-name') ?? '').split(',').filter((s) => s !== ''),
  };
}

/** Runs until SIGTERM/SIGINT; resolves with the exit code. */
export async function runCa(args: ParsedArgs): Promise<number> {
  const cmd = caCommand(args);
  const tokens = NodeTokens.fromFile(cmd.nodeTokens);
  let workloads: readonly Workload[] | undefined;
  let firstIssues: string | undefined;
  const watcher = new ConfigWatcher(cmd.config, (r: LoadResult) => {
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
    throw new MeshError('CONFIG_SCHEMA', `\n${firstIssues ?? `${cmd.config} could not be loaded`}`);
  }
  let server: CaServer;
  try {
    server = await CaServer.start({
      listen: cmd.listen,
      dir: cmd.dir,
      trustDomain: cmd.trustDomain,
      tokens,
      topology: () => workloads ?? [],
      maxTtlSeconds: cmd.maxTtlSeconds,
      defaultTtlSeconds: Math.min(DEFAULT_TTL_SECONDS, cmd.maxTtlSeconds),
      serverNames: cmd.serverNames,
    });
  } catch (e) {
    watcher.stop();
    throw e;
  }
  log.info({ listen: cmd.listen, port: server.port, nodes: tokens.nodes.length, pid: process.pid }, 'CA started');
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'CA stopping');
      watcher.stop();
      void server.stop().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
