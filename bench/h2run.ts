// The doing half of the HTTP/2 bench: readiness of h2c-only servers (an HTTP/1.1 probe gets nothing from
// them) and h2load runs with a hard time bound, tracked for cleanup like every other child.
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import { isRunning, startInCgroup, startProcess, type Tracked } from './procs';
import { parseH2Log, type LogLatency } from './h2load';

/** GET url once over h2c (prior knowledge); the status code, or undefined on any error or timeout. */
export function h2Status(url: string, timeoutMs = 1000): Promise<number | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const session = http2.connect(url);
    const finish = (status: number | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      resolve(status);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    session.on('error', () => finish(undefined));
    const req = session.request({ ':path': new URL(url).pathname || '/' });
    req.on('response', (h) => {
      req.resume();
      finish(Number(h[':status']));
    });
    req.on('error', () => finish(undefined));
    req.end();
  });
}

/** Polls until `url` answers 200 over h2c; fails early (with the child's last output) if it exits. */
export async function waitReadyH2(t: Tracked, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: number | undefined;
  while (Date.now() < deadline) {
    if (!isRunning(t.child)) throw new Error(`${t.name} exited (${t.child.exitCode ?? t.child.signalCode}): ${t.tail.why()}`);
    last = await h2Status(url, 1000);
    if (last === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${t.name} not ready at ${url} (h2c) after ${timeoutMs} ms (last status ${last ?? 'none'}); last output: ${t.tail.why()}`);
}

export interface H2loadOptions {
  readonly url: string;
  /** Measured seconds (-D). */
  readonly seconds: number;
  /** Warm-up seconds before the measured phase (--warm-up-time); h2load leaves them out of its figures. */
  readonly warmup: number;
  readonly clients: number;
  readonly streams: number;
  readonly threads: number;
  /** Per-request log for percentiles; omitted: no percentiles. */
  readonly logFile?: string;
  /** Run h2load inside this cgroup (the mesh's pods cgroup), so its connect() goes through connect4. */
  readonly cgroup?: string;
}

export function h2loadArgs(o: H2loadOptions): string[] {
  return [
    '-c', String(o.clients), '-m', String(o.streams), '-t', String(o.threads),
    '-D', String(o.seconds),
    ...(o.warmup > 0 ? [`--warm-up-time=${o.warmup}`] : []),
    ...(o.logFile ? [`--log-file=${o.logFile}`] : []),
    o.url,
  ];
}

/** Runs h2load to completion; killed (and rejected) if it overruns warm-up + duration by 15 s. */
export function runH2load(o: H2loadOptions): Promise<string> {
  const args = h2loadArgs(o);
  const t = o.cgroup ? startInCgroup('h2load', o.cgroup, 'h2load', args) : startProcess('h2load', 'h2load', args);
  const limit = o.seconds + o.warmup + 15;
  return new Promise((resolve, reject) => {
    let out = '';
    t.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      t.child.kill('SIGKILL');
      reject(new Error(`h2load overran ${limit}s and was killed`));
    }, limit * 1000);
    t.child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`h2load exited ${code ?? signal}: ${t.tail.text(4)}`));
    });
  });
}

/** Percentiles from an h2load log file, then the file is removed (it grows by ~25 bytes a request). */
export function readLogLatency(file: string | undefined): LogLatency | undefined {
  if (!file || !fs.existsSync(file)) return undefined;
  try {
    return parseH2Log(fs.readFileSync(file, 'latin1'));
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** The agent's Prometheus text from its admin port, or undefined. */
export async function scrapeMetrics(port: number, timeoutMs = 3000): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}
