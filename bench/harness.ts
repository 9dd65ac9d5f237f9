// The frame the HTTP/2 and routing benches run in: settings from the environment, a temp directory, a
// hard deadline and signal handlers, and one cleanup (every child by pid, the mesh's cgroups and pins, the
// temp directory) that runs on every way out.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cleanupMesh, meshUnavailable, startMesh, type Mesh, type MeshPaths } from './mesh';
import { startProcess, stopAll, toolVersion, waitReady, type Tracked } from './procs';
import { backendNginxConf } from './configs';
import { isRoot } from '../test/helpers/sysenv';
import type { AgentLogging } from './tables';

export const say = (msg: string): boolean => process.stderr.write(`bench: ${msg}\n`);
export const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 400);

export function envInt(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${raw}: expected an integer in [${min}, ${max}]`);
  return n;
}

/**
 * Runs `body` in a fresh temp directory with a deadline of `budgetSec`. Whatever happens (body throws, a
 * signal, the deadline) everything started is stopped and removed before this returns or the process
 * exits. A throw from `body` is reported and swallowed: the caller still prints what it collected.
 * Resolves to cleanup warnings for the report.
 */
export async function withBenchScope(budgetSec: number, body: (dir: string) => Promise<void>): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodemesh-bench-'));
  let cleaned: Promise<string[]> | undefined;
  const cleanup = (): Promise<string[]> =>
    (cleaned ??= (async () => {
      await stopAll(5000, true);
      const w = await cleanupMesh().catch((e: unknown) => [`mesh cleanup failed: ${errText(e)}`]);
      fs.rmSync(dir, { recursive: true, force: true });
      return w;
    })());
  const bail = (why: string, code: number) => (): void => {
    say(`${why}: cleaning up`);
    void cleanup().finally(() => process.exit(code));
  };
  const watchdog = setTimeout(bail(`deadline of ${budgetSec}s reached`, 124), budgetSec * 1000);
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => {
    const h = bail(`got ${sig}`, 130);
    process.once(sig, h);
    return [sig, h] as const;
  });
  try {
    await body(dir);
  } catch (e) {
    say(`aborted: ${errText(e)}`);
  } finally {
    clearTimeout(watchdog);
  }
  const warnings = await cleanup();
  for (const [sig, h] of handlers) process.removeListener(sig, h);
  return warnings;
}

/**
 * Where the agent of this build is, where its log goes (next to the JSON results) and how it logs:
 * `logging` as the bench asks (nothing: the agent's defaults), with BENCH_AGENT_LOG_LEVEL, when set,
 * overriding the level of every agent.
 */
export function agentPaths(dir: string, logFile: string, logging: AgentLogging = {}): MeshPaths {
  const level = process.env.BENCH_AGENT_LOG_LEVEL || logging.logLevel;
  return {
    agentMain: path.resolve(__dirname, '../src/main.js'),
    bpfObjects: path.resolve(process.env.BENCH_BPF_OBJECTS ?? 'build/bpf'),
    dir,
    logFile,
    ...(level !== undefined && { logLevel: level }),
    ...(logging.accessLog === false && { accessLog: false }),
  };
}

/** Starts the agent with `config`; resolves to the mesh, or to why it cannot be measured. */
export async function tryStartMesh(p: MeshPaths, backendPort: number, config: string): Promise<Mesh | { why: string }> {
  const why = meshUnavailable(p);
  if (why) return { why };
  try {
    return await startMesh(p, backendPort, 20_000, config);
  } catch (e) {
    return { why: `agent did not become ready: ${errText(e)} (log: ${p.logFile})` };
  }
}

/** Let start-up settle (config load, first pool) before the first measured request. */
export const settle = (ms = 1000): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes a bench's JSON results and says where. */
export function writeResults(out: string, json: unknown): void {
  fs.writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
  say(`wrote ${path.relative(process.cwd(), out) || out}`);
}

/**
 * The whole run of a bench that fills one JSON report: `measure` inside a bench scope, its error kept in
 * the report, cleanup warnings added, the report printed and written to `out`. Resolves to the exit code.
 */
export async function reportBench(
  out: string,
  budgetSec: number,
  report: Record<string, unknown>,
  measure: (dir: string) => Promise<void>,
): Promise<number> {
  const warnings = await withBenchScope(budgetSec, (dir) => measure(dir).catch((e: unknown) => {
    report.error = errText(e);
  }));
  if (warnings.length > 0) report.warnings = warnings;
  say(JSON.stringify(report));
  writeResults(out, report);
  return report.error === undefined ? 0 : 1;
}

/** Runs a bench's main and exits with its code; a throw is reported and exits 1. */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      say(`failed: ${errText(e)}`);
      process.exit(1);
    },
  );
}

/**
 * What a wrk bench needs before it starts: root (cgroups, eBPF, pins) and wrk. Returns wrk's version,
 * or undefined after saying what is missing (the bench then exits with status 2).
 */
export function wrkBenchPreflight(): string | undefined {
  if (!isRoot()) {
    say('must run as root: it creates cgroups, loads eBPF programs and pins them under /sys/fs/bpf (try: sudo make bench)');
    return undefined;
  }
  const version = toolVersion('wrk', '--version');
  if (version === undefined) say('wrk is not installed (Debian package "wrk"; scripts/bootstrap.sh installs it)');
  return version;
}

/** The benches' backend: one nginx process serving a fixed 200 on 127.0.0.1:PORT, config in DIR. */
export async function startBackendNginx(dir: string, port: number): Promise<{ readonly url: string; readonly proc: Tracked }> {
  const url = `http://127.0.0.1:${port}/`;
  fs.writeFileSync(path.join(dir, 'backend.conf'), backendNginxConf(dir, port));
  const proc = startProcess('backend nginx', 'nginx', ['-e', 'stderr', '-p', dir, '-c', path.join(dir, 'backend.conf')]);
  await waitReady(proc, url, 5000);
  return { url, proc };
}
