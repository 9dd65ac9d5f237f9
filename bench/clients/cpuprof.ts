// Takes a CPU profile of a running node process through its inspector (opened with SIGUSR1, listening on
// 127.0.0.1:9229 of the process's network namespace, where this runs): Profiler.start, SECONDS of
// sampling, Profiler.stop, the profile written to OUT (.cpuprofile, readable by Chrome DevTools).
// Bounded: it gives up after SECONDS plus 10 s. Usage: cpuprof.js SECONDS OUT [PORT]
import * as fs from 'node:fs';

const [secondsS = '5', out = 'agent.cpuprofile', portS = '9229'] = process.argv.slice(2);
setTimeout(() => process.exit(3), (Number(secondsS) + 10) * 1000).unref();

async function main(): Promise<void> {
  let url: string | undefined;
  for (let i = 0; i < 50 && url === undefined; i++) {
    try {
      const list = (await (await fetch(`http://127.0.0.1:${portS}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
      url = list[0]?.webSocketDebuggerUrl;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (url === undefined) throw new Error('no inspector');
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
  let id = 0;
  const pending = new Map<number, (r: unknown) => void>();
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  };
  const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
    new Promise((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 200 });
  await call('Profiler.start');
  await new Promise((r) => setTimeout(r, Number(secondsS) * 1000));
  const r = (await call('Profiler.stop')) as { profile: unknown };
  fs.writeFileSync(out, JSON.stringify(r.profile));
  ws.close();
  console.log(out);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
