// Process plumbing for the bench: free ports, servers started and tracked by pid, readiness polling, wrk
// runs with a hard time bound, and RSS sampling. Every child started here is registered so that one
// cleanup call can stop them all, by pid, whatever failed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { spawnInCgroup, stopChild } from '../test/helpers/sysenv';
import { failureSummary, parseStatCpuMs, parseVmRssKb } from './wrk';

const started = new Set<ChildProcess>();
/** Set once shutdown begins: the main flow may still be running and must not start anything new. */
let closing = false;

export function assertOpen(): void {
  if (closing) throw new Error('bench is shutting down');
}

/** Keeps the last lines a child printed, for error messages that say why it died. */
export class Tail {
  private lines: string[] = [];
  constructor(private readonly max = 60) {}
  push(chunk: Buffer | string): void {
    for (const l of chunk.toString().split('\n')) if (l.trim()) this.lines.push(l);
    if (this.lines.length > this.max) this.lines = this.lines.slice(-this.max);
  }
  text(n = 8): string {
    return this.all().slice(-n).join('\n');
  }
  /** One line saying why the process failed (see failureSummary). */
  why(): string {
    return failureSummary(this.all());
  }
  protected all(): string[] {
    return this.lines;
  }
}

/** A Tail over a log file the child writes to directly: read only when someone asks why it failed. */
class FileTail extends Tail {
  constructor(private readonly file: string) {
    super();
  }
  protected override all(): string[] {
    try {
      const fd = fs.openSync(this.file, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        const len = Math.min(size, 64 * 1024);
        const buf = Buffer.alloc(len);
        fs.readSync(fd, buf, 0, len, size - len);
        return buf.toString().split('\n').filter((l) => l.trim()).slice(-60);
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return [];
    }
  }
}

export interface Tracked {
  readonly name: string;
  readonly child: ChildProcess;
  readonly tail: Tail;
}

/** Registers a child for cleanup and keeps the end of its output. */
function track(name: string, child: ChildProcess, tail: Tail = new Tail()): Tracked {
  if (closing) {
    child.kill('SIGKILL');
    throw new Error(`bench is shutting down: ${name} not started`);
  }
  started.add(child);
  child.stdout?.on('data', (d: Buffer) => tail.push(d));
  child.stderr?.on('data', (d: Buffer) => tail.push(d));
  child.on('error', (e) => tail.push(`spawn error: ${e.message}`));
  child.once('exit', () => started.delete(child));
  return { name, child, tail };
}

export function startProcess(name: string, cmd: string, args: readonly string[]): Tracked {
  assertOpen();
  return track(name, spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/**
 * Starts `cmd` inside cgroup `cg`. With `logFile`, its stdout and stderr go straight to that file, so a
 * chatty process (the agent) costs the bench process nothing while it is being measured.
 */
export function startInCgroup(
  name: string, cg: string, cmd: string, args: readonly string[], logFile?: string, env?: NodeJS.ProcessEnv,
): Tracked {
  assertOpen();
  if (!logFile) return track(name, spawnInCgroup(cg, cmd, args, env ? { env } : {}));
  const fd = fs.openSync(logFile, 'a');
  try {
    return track(name, spawnInCgroup(cg, cmd, args, { stdio: ['ignore', fd, fd], ...(env && { env }) }), new FileTail(logFile));
  } finally {
    fs.closeSync(fd); // the child has its own copy
  }
}

export const isRunning = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

/**
 * Stops every child still running, by pid: SIGTERM, then SIGKILL after the grace period. With
 * `final`, nothing can be started afterwards (for the last cleanup, which may race the main flow).
 */
export async function stopAll(graceMs = 5000, final = false): Promise<void> {
  if (final) closing = true;
  await Promise.all([...started].map((c) => stopChild(c, graceMs).catch(() => undefined)));
}

/** Ports the kernel just handed out on 127.0.0.1; all held open together so they are distinct. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

/** GET url once; resolves to the status code, or undefined on any connection error or timeout. */
export function httpStatus(url: string, timeoutMs = 1000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `url` answers 200; fails early (with the child's last output) if the child exits. */
export async function waitReady(t: Tracked, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: number | undefined;
  while (Date.now() < deadline) {
    if (!isRunning(t.child)) {
      throw new Error(`${t.name} exited (${t.child.exitCode ?? t.child.signalCode}): ${t.tail.why()}`);
    }
    last = await httpStatus(url, 1000);
    if (last === 200) return;
    await sleep(100);
  }
  throw new Error(`${t.name} not ready at ${url} after ${timeoutMs} ms (last status ${last ?? 'none'}); last output: ${t.tail.why()}`);
}

export interface WrkOptions {
  readonly url: string;
  readonly seconds: number;
  readonly connections: number;
  readonly threads: number;
  /** Run wrk inside this cgroup (the mesh's pods cgroup), so its connect() goes through connect4. */
  readonly cgroup?: string;
}

/** Runs wrk to completion; killed (and rejected) if it overruns its duration by 15 s. */
export function runWrk(o: WrkOptions): Promise<string> {
  const args = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency', '--timeout', '2s', o.url];
  const t = o.cgroup ? startInCgroup('wrk', o.cgroup, 'wrk', args) : startProcess('wrk', 'wrk', args);
  return new Promise((resolve, reject) => {
    let out = '';
    t.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      t.child.kill('SIGKILL');
      reject(new Error(`wrk overran ${o.seconds + 15}s and was killed`));
    }, (o.seconds + 15) * 1000);
    t.child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`wrk exited ${code ?? signal}: ${t.tail.text(4)}`));
    });
  });
}

/**
 * CPU time (user + system) a process has used, in ms, from /proc/PID/stat (fields 14 and 15, in clock
 * ticks of 10 ms on Linux); undefined when it cannot be read.
 */
export function readCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return parseStatCpuMs(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

export function readRssKb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return parseVmRssKb(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak and the last sample. */
export function sampleRss(pid: number | undefined, everyMs = 200): () => { peakKb?: number; lastKb?: number } {
  let peakKb: number | undefined;
  let lastKb: number | undefined;
  const tick = (): void => {
    const kb = readRssKb(pid);
    if (kb === undefined) return;
    lastKb = kb;
    peakKb = Math.max(peakKb ?? 0, kb);
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return () => {
    clearInterval(timer);
    tick();
    return { ...(peakKb !== undefined && { peakKb }), ...(lastKb !== undefined && { lastKb }) };
  };
}

/** First line a tool prints about its version (wrk, haproxy and nginx each use a different stream). */
export function toolVersion(cmd: string, flag: string): string | undefined {
  const r = spawnSync(cmd, [flag], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return undefined;
  return `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find((l) => l.length > 0);
}

/** True when some socket listens on addr:port (from /proc/net/tcp), e.g. a VIP we expect to be unbound. */
export function tcpListening(addr: string, port: number): boolean {
  const hex = (a: string): string =>
    a.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).reverse().join('').toUpperCase();
  const want = `${hex(addr)}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
  try {
    return fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').some((l) => {
      const f = l.trim().split(/\s+/);
      return f[1] === want && f[3] === '0A';
    });
  } catch {
    return false;
  }
}
