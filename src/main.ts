// CLI entry: agent | check | uninstall | stat. Exit codes: 0 ok, 1 failure, 2 usage.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent, DEFAULTS } from './agent';
import { ms, onlyFlags, parseArgs, port, str, USAGE_HEAD, type ParsedArgs } from './cli';
import { CA_USAGE } from './ca/main';
import { runCheck } from './config/check';
import { CATALOG, isMeshError, MeshError } from './errors';
import { kubernetesAvailable } from './discovery/available';
import { flushLogs, logger } from './log';

const log = logger('main');
const USAGE = `${USAGE_HEAD}${CA_USAGE}`;

async function agent(args: ParsedArgs): Promise<number> {
  onlyFlags(args, ['config', 'cgroup', 'bpffs', 'node', 'node-ip', 'no-capture', 'outbound-port', 'admin-host', 'metrics-port', 'ready-port', 'bpf-objects', 'connect-timeout', 'request-timeout', 'access-log', 'trust-domain', 'tunnel-port', 'ca', 'ca-root', 'node-token', 'delivery-address', 'cert-ttl', 'kubeconfig', 'no-kubernetes', 'cluster-id', 'cluster-domain']);
  const config = str(args, 'config');
  const kubeconfig = str(args, 'kubeconfig');
  if (kubeconfig !== undefined && args.flags.has('no-kubernetes')) throw new Error('--kubeconfig and --no-kubernetes exclude each other');
  // Discovery is on in a pod (in-cluster config), with --kubeconfig, or with $KUBECONFIG, like kubectl.
  const kubernetes = !args.flags.has('no-kubernetes') && kubernetesAvailable(kubeconfig) ? { kubeconfig } : undefined;
  if (!config && !kubernetes) throw new Error('--config PATH is required without Kubernetes discovery (--kubeconfig FILE, $KUBECONFIG, or running in a pod)');
  if (config && !fs.existsSync(config)) throw new MeshError('CONFIG_READ', `${config} does not exist`);
  const connectTimeoutMs = ms(args, 'connect-timeout');
  const requestTimeoutMs = ms(args, 'request-timeout');
  const certTtl = ms(args, 'cert-ttl');
  const opts = {
    config,
    ...(kubernetes ? { kubernetes } : {}),
    clusterId: str(args, 'cluster-id', DEFAULTS.clusterId) as string,
    clusterDomain: str(args, 'cluster-domain', DEFAULTS.clusterDomain) as string,
    capture: !args.flags.has('no-capture'),
    cgroup: str(args, 'cgroup', DEFAULTS.cgroup) as string,
    bpffs: str(args, 'bpffs', DEFAULTS.bpffs) as string,
    objects: path.resolve(str(args, 'bpf-objects', DEFAULTS.objects) as string),
    node: str(args, 'node', os.hostname()) as string,
    nodeIp: str(args, 'node-ip', DEFAULTS.nodeIp) as string,
    outboundPort: port(args, 'outbound-port', DEFAULTS.outboundPort),
    adminHost: str(args, 'admin-host', DEFAULTS.adminHost) as string,
    metricsPort: port(args, 'metrics-port', DEFAULTS.metricsPort),
    readyPort: port(args, 'ready-port', DEFAULTS.readyPort),
    accessLog: (str(args, 'access-log', 'on') as string) !== 'off',
    trustDomain: str(args, 'trust-domain', DEFAULTS.trustDomain) as string,
    tunnelPort: port(args, 'tunnel-port', DEFAULTS.tunnelPort),
    deliveryAddress: str(args, 'delivery-address', 'auto') as string,
    ...caFlags(args),
    ...(certTtl !== undefined ? { certTtlSeconds: Math.max(1, Math.round(certTtl / 1000)) } : {}),
    ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
  };
  const a = await Agent.start(opts);
  log.info({ node: opts.node, nodeIp: opts.nodeIp, capture: opts.capture, kubernetes: kubernetes !== undefined, pid: process.pid }, 'agent started');
  await new Promise<void>((resolve) => {
    const stop = (sig: string): void => {
      log.info({ signal: sig }, 'draining');
      a.stop()
        .catch((e: unknown) => log.error({ err: e }, 'error while stopping'))
        .finally(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

/** --ca ADDR:PORT needs --ca-root and --node-token; without --ca the agent embeds a CA. */
function caFlags(args: ParsedArgs): { ca?: { address: string; rootFile: string; tokenFile: string } } {
  const address = str(args, 'ca');
  if (!address) {
    if (args.flags.has('ca-root') || args.flags.has('node-token')) throw new Error('--ca-root and --node-token need --ca ADDR:PORT');
    return {};
  }
  const rootFile = str(args, 'ca-root');
  const tokenFile = str(args, 'node-token');
  if (!rootFile || !tokenFile) throw new Error('--ca needs --ca-root FILE and --node-token FILE');
  return { ca: { address, rootFile, tokenFile } };
}

async function uninstallCmd(args: ParsedArgs): Promise<number> {
  onlyFlags(args, ['bpffs', 'cgroup']);
  const { uninstall } = await import('./capture/bpf');
  const r = uninstall(str(args, 'bpffs', DEFAULTS.bpffs) as string, str(args, 'cgroup'));
  process.stdout.write(`detached: ${r.detached.join(', ') || 'nothing'}\nremoved pins: ${r.removed.length}\n`);
  if (r.remaining > 0) process.stdout.write(`note: ${r.remaining} other program(s) remain attached to the cgroup (not nodemesh's pins)\n`);
  return 0;
}

async function statCmd(args: ParsedArgs): Promise<number> {
  onlyFlags(args, ['bpffs']);
  const { readPinnedStats } = await import('./capture/stat');
  process.stdout.write(readPinnedStats(str(args, 'bpffs', DEFAULTS.bpffs) as string));
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseArgs(argv, new Set(['no-capture', 'no-kubernetes', 'help']));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  try {
    switch (args.command) {
      case 'agent':
        return await agent(args);
      case 'check': {
        const p = args.positional[0];
        if (!p) throw new Error('check needs a PATH');
        return await runCheck(p);
      }
      case 'ca': {
        const { runCa } = await import('./ca/main');
        return await runCa(args);
      }
      case 'uninstall':
        return await uninstallCmd(args);
      case 'stat':
        return await statCmd(args);
      case 'help':
      case '--help':
        process.stdout.write(USAGE);
        return 0;
      default:
        process.stderr.write(`unknown command '${args.command}'\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (isMeshError(e)) {
      process.stderr.write(`nodemesh: ${e.code}: ${e.message}\n`);
      return 1;
    }
    const msg = (e as Error).message ?? String(e);
    process.stderr.write(`nodemesh: ${msg}\n`);
    return /needs|required|unknown flag|must be/.test(msg) ? 2 : 1;
  }
}

if (require.main === module) {
  // Last line of defence: a bug in one connection's handling must never take the node's agent down.
  process.on('unhandledRejection', (e: unknown) => log.error({ err: e, code: CATALOG.INTERNAL.code }, CATALOG.INTERNAL.message));
  // Buffered log lines (the access log's last requests) are written before the process goes.
  main(process.argv.slice(2)).then(
    (code) => flushLogs().then(() => process.exit(code)),
    (e: unknown) => {
      process.stderr.write(`nodemesh: ${String(e)}\n`);
      return flushLogs().then(() => process.exit(1));
    },
  );
}
