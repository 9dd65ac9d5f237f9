// `nodemesh stat`: samples the agent's admin API every --interval and redraws one screen in place,
// as top does (the terminal's alternate screen, cursor home, each line cleared to its end; not a
// terminal: one plain screen after another, as `top -b`); `--once` samples twice and prints one table;
// `-o json` prints one JSON object per sample instead.
import type { Writable } from 'node:stream';
import type { StatsSnapshot } from '../telemetry/admin-proto';
import { connectAdmin, type AdminClient } from './admin-client';
import { statJson, statScreen } from './stat-view';

export interface StatOptions {
  readonly address: string;
  readonly intervalMs: number;
  readonly once: boolean;
  readonly output: 'table' | 'json';
  readonly out: Writable & { columns?: number; rows?: number; isTTY?: boolean };
  /** Ends the live loop (SIGINT/SIGTERM in the command; tests). */
  readonly signal?: AbortSignal;
  /** For tests: a client already made. */
  readonly client?: AdminClient;
}

const ALT_SCREEN_ON = '\x1b[?1049h';
const ALT_SCREEN_OFF = '\x1b[?1049l';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const HOME = '\x1b[H';
const CLEAR_EOL = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';

/** One frame: home, each line overwritten and cleared to its end, the rest of the screen cleared. Pure. */
export function frame(lines: readonly string[]): string {
  return `${HOME}${lines.map((l) => `${l}${CLEAR_EOL}`).join('\r\n')}\r\n${CLEAR_BELOW}`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

const clock = (): string => new Date().toISOString().slice(11, 19);

export async function runStat(o: StatOptions): Promise<number> {
  const client = o.client ?? (await connectAdmin(o.address, Math.max(3000, o.intervalMs)));
  try {
    // The first sample fails the command (a wrong address is said at once, with a non-zero exit).
    const first = await client.snapshot();
    if (o.once) {
      await sleep(o.intervalMs, o.signal);
      const second = await client.snapshot();
      o.out.write(o.output === 'json' ? `${statJson(first, second)}\n` : `${statScreen(first, second, { address: client.address, intervalMs: o.intervalMs }).join('\n')}\n`);
      return 0;
    }
    if (o.output === 'json') return await jsonLoop(client, first, o);
    return o.out.isTTY === true ? await screenLoop(client, first, o) : await plainLoop(client, first, o);
  } finally {
    if (o.client === undefined) client.close();
  }
}

async function jsonLoop(client: AdminClient, first: StatsSnapshot, o: StatOptions): Promise<number> {
  let prev: StatsSnapshot | undefined;
  let cur = first;
  for (;;) {
    o.out.write(`${statJson(prev, cur)}\n`);
    await sleep(o.intervalMs, o.signal);
    if (o.signal?.aborted) return 0;
    prev = cur;
    // Live: a failed sample later on ends the stream with the error (scripts see a non-zero exit).
    cur = await client.snapshot();
  }
}

/** Not a terminal (a pipe, `kubectl exec` without -t): one plain screen after another, as `top -b`. */
async function plainLoop(client: AdminClient, first: StatsSnapshot, o: StatOptions): Promise<number> {
  let prev: StatsSnapshot | undefined;
  let cur = first;
  for (;;) {
    o.out.write(`${statScreen(prev, cur, { address: client.address, intervalMs: o.intervalMs, clock: clock() }).join('\n')}\n\n`);
    await sleep(o.intervalMs, o.signal);
    if (o.signal?.aborted) return 0;
    prev = cur;
    cur = await client.snapshot();
  }
}

async function screenLoop(client: AdminClient, first: StatsSnapshot, o: StatOptions): Promise<number> {
  const out = o.out;
  out.write(`${ALT_SCREEN_ON}${HIDE_CURSOR}`);
  let prev: StatsSnapshot | undefined;
  let cur = first;
  let problem: string | undefined;
  try {
    for (;;) {
      const lines = statScreen(prev, cur, { address: client.address, intervalMs: o.intervalMs, clock: clock(), ...(problem ? { problem } : {}), ...(out.columns ? { columns: out.columns } : {}), ...(out.rows ? { rows: out.rows } : {}) });
      out.write(frame(lines));
      await sleep(o.intervalMs, o.signal);
      if (o.signal?.aborted) return 0;
      try {
        const next = await client.snapshot();
        prev = cur;
        cur = next;
        problem = undefined;
      } catch (e) {
        // The agent went away (a restart, a drain): keep the last numbers on screen and say so.
        problem = `! ${(e as Error).message}`;
      }
    }
  } finally {
    out.write(`${SHOW_CURSOR}${ALT_SCREEN_OFF}`);
  }
}
