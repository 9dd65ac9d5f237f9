// CLI entry: agent | ca | check | uninstall | stat | config | version, flags from the one table in cli/flags.ts.
// Exit codes: 0 ok, 1 failure, 2 usage (an invalid command line or environment setting).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { Agent } from './agent';
import { DEFAULTS } from './options';
import type { ParsedArgs } from './cli';
import { agentOptions } from './cli/agent-options';
import type { CommandName } from './cli/flags';
import { commandUsage, mainUsage } from './cli/help';
import { parseCommandLine, type Flags } from './cli/parse';
import { UsageError } from './cli/values';
import { readAllowedCpus } from './workers/cpus';
import { packageVersion } from './version';
import { CATALOG, isMeshError } from './errors';
import { kubernetesAvailable } from './discovery/available';
import { flushLogs, logger, logLevelProblem } from './log';

const log = logger('main');

async function agent(f: Flags): Promise<number> {
  const opts = agentOptions(f, {
    hostname: os.hostname(),
    defaultObjects: DEFAULTS.objects,
    kubernetesAvailable,
    exists: (p) => fs.existsSync(p),
    allowedCpus: () => readAllowedCpus(),
  });
  const kubernetes = opts.kubernetes;
  const a = await Agent.start(opts);
  log.info({ node: opts.node, nodeIp: opts.nodeIp, capture: opts.capture, kubernetes: kubernetes !== undefined, workers: opts.workers, pid: process.pid }, 'agent started');
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

async function uninstallCmd(f: Flags): Promise<number> {
  const bpffs = f.text('bpffs') as string;
  const { uninstall } = await import('./capture/bpf');
  const { removeServiceNames } = await import('./capture/names');
  const r = uninstall(bpffs, f.text('cgroup'));
  removeServiceNames(bpffs);
  process.stdout.write(`detached: ${r.detached.join(', ') || 'nothing'}\nremoved pins: ${r.removed.length}\n`);
  if (r.remaining > 0) process.stdout.write(`note: ${r.remaining} other program(s) remain attached to the cgroup (not nodemesh's pins)\n`);
  return 0;
}

async function statCmd(f: Flags): Promise<number> {
  if (f.bool('pins')) {
    const { readPinnedStats } = await import('./capture/stat');
    process.stdout.write(readPinnedStats(f.text('bpffs') as string));
    return 0;
  }
  const { runStat } = await import('./cli/stat');
  const stop = new AbortController();
  const end = (): void => stop.abort();
  process.once('SIGINT', end);
  process.once('SIGTERM', end);
  try {
    const output = f.text('output') === 'json' ? 'json' : 'table';
    return await runStat({ address: f.text('admin-address') as string, intervalMs: f.num('interval') as number, once: f.bool('once'), output, out: process.stdout, signal: stop.signal });
  } finally {
    process.off('SIGINT', end);
    process.off('SIGTERM', end);
  }
}

async function configCmd(args: ParsedArgs, f: Flags): Promise<number> {
  const { runConfig } = await import('./cli/config');
  return runConfig(args.positional[0] as string, { address: f.text('admin-address') as string, output: f.text('output') === 'json' ? 'json' : 'table', out: process.stdout });
}

async function checkCmd(args: ParsedArgs, f: Flags): Promise<number> {
  // Only what was given: runCheck applies the agent's own defaults to the rest.
  const capacity = {
    ...(f.given('max-services') ? { services: f.num('max-services') as number } : {}),
    ...(f.given('max-backends') ? { backends: f.num('max-backends') as number } : {}),
  };
  const { runCheck } = await import('./config/check');
  return runCheck(args.positional[0] as string, { capacity });
}

async function run(command: CommandName, args: ParsedArgs, f: Flags): Promise<number> {
  switch (command) {
    case 'agent':
      return agent(f);
    case 'check':
      return checkCmd(args, f);
    case 'ca': {
      const { runCa } = await import('./ca/main');
      return runCa(args);
    }
    case 'uninstall':
      return uninstallCmd(f);
    case 'stat':
      return statCmd(f);
    case 'config':
      return configCmd(args, f);
  }
}

/** Thrown plain errors that are about the command line (from `nodemesh ca`'s own checks). */
const USAGE_WORDS = /needs|required|unknown flag|must be|exclude each other|must not be empty/;

export async function main(argv: readonly string[]): Promise<number> {
  let command: CommandName | undefined;
  try {
    const inv = parseCommandLine(argv);
    if (inv.kind === 'help') {
      process.stdout.write(inv.command ? commandUsage(inv.command) : mainUsage());
      return 0;
    }
    if (inv.kind === 'version') {
      process.stdout.write(`nodemesh ${packageVersion() ?? 'unknown'}\n`);
      return 0;
    }
    command = inv.command;
    // Checked here, not at import: the logger already fell back to its default level.
    if (logLevelProblem !== undefined) throw new UsageError(logLevelProblem);
    return await run(inv.command, inv.args, inv.flags);
  } catch (e) {
    if (e instanceof UsageError) return usageError(e.message, e.command ?? command);
    if (isMeshError(e)) {
      process.stderr.write(`nodemesh: ${e.code}: ${e.message}\n`);
      return 1;
    }
    const msg = (e as Error).message ?? String(e);
    if (command === 'ca' && USAGE_WORDS.test(msg)) return usageError(msg, command);
    process.stderr.write(`nodemesh: ${msg}\n`);
    return 1;
  }
}

/** One line saying what is wrong and where the usage is, as kubectl does; exit status 2. */
function usageError(message: string, command: CommandName | undefined): number {
  process.stderr.write(`nodemesh: ${message}\nSee 'nodemesh ${command ? `${command} ` : ''}--help' for usage.\n`);
  return 2;
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
