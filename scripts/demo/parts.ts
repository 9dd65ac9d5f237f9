// How the demo runs its parts: each on its own (one that fails is reported in one line and the next
// still runs), with the processes' logs kept in files, progress while agents start, and waits that
// stretch on a loaded machine.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The longest stretch of a wait: a machine four times over its CPUs. */
const MAX_STRETCH = 4;

/** How much longer than on an idle machine waits may take: load average per CPU, between 1 and 4. */
export function waitStretch(load = os.loadavg()[0] ?? 0, cpus = os.availableParallelism()): number {
  return Math.min(MAX_STRETCH, Math.max(1, load / Math.max(1, cpus)));
}

/** MS on an idle machine, stretched by the machine's load. */
export const stretched = (ms: number): number => Math.round(ms * waitStretch());

export function loadLine(): string {
  return `load average ${(os.loadavg()[0] ?? 0).toFixed(1)} on ${os.availableParallelism()} CPUs`;
}

/** What a part gets: a place for its processes' logs (written to the part's log file at its end). */
export interface PartContext {
  /** Logs to write when the part ends, whether it succeeds or not (called then, so it sees everything). */
  keepLogs(read: () => string): void;
  /** Resolves with P; while it runs, says every 10 s how long it has been waiting for WHAT. */
  progress<T>(what: string, p: Promise<T>): Promise<T>;
}

export interface PartOutcome {
  name: string;
  ok: boolean;
  log: string;
}

export class DemoParts {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodemesh-demo-'));
  readonly outcomes: PartOutcome[] = [];

  /** Runs one part; an error ends that part only, as one line naming what failed and the log file. */
  async run(name: string, part: (ctx: PartContext) => Promise<void>): Promise<boolean> {
    const log = path.join(this.dir, `${name.replace(/\W+/g, '-')}.log`);
    const readers: (() => string)[] = [];
    const ctx: PartContext = { keepLogs: (read) => void readers.push(read), progress };
    let failure: unknown;
    try {
      await part(ctx);
    } catch (e) {
      failure = e;
    }
    const kept = readers.map((read) => safely(read)).filter((s) => s.length > 0);
    if (failure !== undefined) kept.push(`--- ${name} failed:\n${failure instanceof Error ? (failure.stack ?? failure.message) : String(failure)}`);
    fs.writeFileSync(log, `${kept.join('\n')}\n`);
    const ok = failure === undefined;
    this.outcomes.push({ name, ok, log });
    if (!ok) console.error(`\n${name} stopped: ${firstLine(failure)} (${loadLine()}); the agents' log: ${log}`);
    return ok;
  }

  /** The closing line: every log, and which parts did not complete. */
  summary(): boolean {
    const failed = this.outcomes.filter((o) => !o.ok);
    console.log(`\nlogs of every part (the agents' JSON lines): ${this.dir}`);
    if (failed.length > 0) console.error(`did not complete: ${failed.map((o) => o.name).join(', ')}; the rest ran.`);
    return failed.length === 0;
  }
}

/** The first line of an error's message (the rest, such as the recent logs, goes to the log file). */
export function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n', 1)[0]?.trim() || 'failed';
}

function safely(read: () => string): string {
  try {
    return read().trimEnd();
  } catch (e) {
    return `(logs not readable: ${String(e)})`;
  }
}

function progress<T>(what: string, p: Promise<T>): Promise<T> {
  const since = Date.now();
  const timer = setInterval(() => console.log(`  … still waiting for ${what}: ${Math.round((Date.now() - since) / 1000)} s (${loadLine()})`), 10_000);
  return p.finally(() => clearInterval(timer));
}
