// Child processes of a namespace cluster (cluster.ts): a command run to completion with its output and a
// timeout (SIGKILL by pid), a long-running one stopped (SIGTERM, then SIGKILL), and batches of `ip`.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The command was killed because it ran longer than timeoutMs. */
  readonly timedOut: boolean;
}

export interface ExecOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

export const running = (c: ChildProcess): boolean => c.pid !== undefined && c.exitCode === null && c.signalCode === null;

export async function stop(c: ChildProcess, graceMs: number): Promise<void> {
  if (!running(c)) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  const wait = (ms: number): Promise<void> => Promise.race([exited, new Promise<void>((r) => setTimeout(r, ms).unref())]);
  c.kill('SIGTERM');
  await wait(graceMs);
  if (running(c)) c.kill('SIGKILL');
  await wait(1000);
}

export function stdioFor(opts: ExecOptions): SpawnOptions {
  return { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...(opts.env ? { env: opts.env } : {}) };
}

/** Output and exit of a child, SIGKILLed by pid after opts.timeoutMs (default 15 s). */
export function collect(child: ChildProcess, opts: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 15_000);
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    };
    child.once('error', (e) => {
      stderr += String(e);
      done(null, null);
    });
    child.once('close', done);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export async function mustRun(cmd: string, args: readonly string[], input?: string): Promise<void> {
  const r = await collect(spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] }), { timeoutMs: 10_000, ...(input !== undefined ? { input } : {}) });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
}

/** One `ip` process for a whole batch of commands (optionally with -n <ns>): setup cost is process count. */
export function ip(opts: readonly string[], batch: readonly string[]): Promise<void> {
  return mustRun('ip', [...opts, '-batch', '-'], batch.join('\n') + '\n');
}
