// CPU profiles of a running agent's main thread and of each of its proxy worker threads, through the
// main thread's inspector (opened with SIGUSR1; 127.0.0.1:PORT of the process's network namespace, where
// this runs). The workers are reached through the same connection with the inspector's NodeWorker domain:
// NodeWorker.enable (waitForDebuggerOnStart false: nothing pauses) reports each worker as
// attachedToWorker with a session id; Profiler commands go to it in NodeWorker.sendMessageToWorker and
// its answers come back in receivedMessageFromWorker. A worker that starts during the run (a restart) is
// profiled from when it attaches; one that exits before the end is left out. The agent is not changed.
// Writes OUT.cpuprofile (main thread) and OUT.worker-ID.cpuprofile (ID: the worker's thread id), readable
// by Chrome DevTools, and prints one line per file with its busiest functions (self time). Bounded: it
// gives up after SECONDS plus 15 s. Usage: threadprof.js SECONDS OUT [PORT]
import * as fs from 'node:fs';
import * as path from 'node:path';

const [secondsS = '5', outS = 'agent', portS = '9229'] = process.argv.slice(2);
const out = outS.replace(/\.cpuprofile$/, '');
setTimeout(() => process.exit(3), (Number(secondsS) + 15) * 1000).unref();

interface Message {
  readonly id?: number;
  readonly method?: string;
  readonly params?: Record<string, unknown>;
  readonly result?: unknown;
  readonly error?: { readonly message: string };
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
}

/** One inspector target: the main thread, or a worker through it. */
class Target {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  constructor(readonly name: string, private readonly send: (text: string) => void) {}

  call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send(JSON.stringify({ id, method, params }));
    });
  }

  answered(m: Message): void {
    const p = m.id === undefined ? undefined : this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id!);
    if (m.error !== undefined) p.reject(new Error(`${this.name}: ${m.error.message}`));
    else p.resolve(m.result);
  }

  /** The target went away: what it was asked fails. */
  gone(): void {
    for (const p of this.pending.values()) p.reject(new Error(`${this.name} exited`));
    this.pending.clear();
  }
}

async function inspectorUrl(port: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    try {
      const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
      if (list[0]?.webSocketDebuggerUrl) return list[0].webSocketDebuggerUrl;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no inspector on 127.0.0.1:${port}`);
}

async function startProfiler(t: Target): Promise<void> {
  await t.call('Profiler.enable');
  await t.call('Profiler.setSamplingInterval', { interval: 200 });
  await t.call('Profiler.start');
}

/** "fn file:line" of the functions with the most self samples, busiest first (idle and GC left out). */
export function busiest(p: Profile, n: number): string[] {
  const self = new Map<number, number>();
  for (const s of p.samples ?? []) self.set(s, (self.get(s) ?? 0) + 1);
  const byName = new Map<string, number>();
  for (const node of p.nodes) {
    const c = self.get(node.id);
    const f = node.callFrame;
    if (c === undefined || f.functionName === '(idle)' || f.functionName === '(program)' || f.functionName === '(garbage collector)') continue;
    const name = `${f.functionName || '(anonymous)'} ${f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : '(native)'}`;
    byName.set(name, (byName.get(name) ?? 0) + c);
  }
  return [...byName.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, c]) => `${name} ${c}`);
}

async function main(): Promise<void> {
  const ws = new WebSocket(await inspectorUrl(portS));
  await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
  const mainThread = new Target('main thread', (text) => ws.send(text));
  const workers = new Map<string, { target: Target; workerId: string; started?: Promise<void> }>();
  let stopping = false;
  const attached = (sessionId: string, workerId: string): void => {
    const target = new Target(`worker ${workerId}`, (message) => void mainThread.call('NodeWorker.sendMessageToWorker', { sessionId, message }).catch(() => undefined));
    const w: { target: Target; workerId: string; started?: Promise<void> } = { target, workerId };
    workers.set(sessionId, w);
    if (!stopping) w.started = startProfiler(target).catch((e: unknown) => console.error(`${target.name}: ${(e as Error).message}`));
  };
  ws.onmessage = (e) => {
    const m = JSON.parse(String(e.data)) as Message;
    if (m.id !== undefined) return mainThread.answered(m);
    const p = m.params ?? {};
    if (m.method === 'NodeWorker.attachedToWorker') {
      const info = p['workerInfo'] as { workerId: string };
      attached(p['sessionId'] as string, String(info.workerId));
    } else if (m.method === 'NodeWorker.receivedMessageFromWorker') {
      workers.get(p['sessionId'] as string)?.target.answered(JSON.parse(p['message'] as string) as Message);
    } else if (m.method === 'NodeWorker.detachedFromWorker') {
      const w = workers.get(p['sessionId'] as string);
      workers.delete(p['sessionId'] as string);
      w?.target.gone();
    }
  };
  await startProfiler(mainThread);
  // The running workers attach in answer to enable; later ones as they start.
  await mainThread.call('NodeWorker.enable', { waitForDebuggerOnStart: false });
  await new Promise((r) => setTimeout(r, Number(secondsS) * 1000));
  stopping = true;
  const results: { name: string; file: string; profile: Promise<unknown> }[] = [{ name: 'main thread', file: `${out}.cpuprofile`, profile: mainThread.call('Profiler.stop') }];
  for (const w of workers.values()) {
    results.push({ name: w.target.name, file: `${out}.worker-${w.workerId}.cpuprofile`, profile: (w.started ?? Promise.resolve()).then(() => w.target.call('Profiler.stop')) });
  }
  for (const r of results) {
    try {
      const { profile } = (await r.profile) as { profile: Profile };
      fs.writeFileSync(r.file, JSON.stringify(profile));
      console.log(`${r.file} (${r.name}, ${profile.samples?.length ?? 0} samples): ${busiest(profile, 5).join(', ')}`);
    } catch (e) {
      console.error(`${r.name}: no profile: ${(e as Error).message}`);
    }
  }
  await mainThread.call('NodeWorker.disable').catch(() => undefined);
  ws.close();
}

if (require.main === module)
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
