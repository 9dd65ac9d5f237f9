// bench/clients/threadprof.ts against a real process: through the main thread's inspector (opened
// with SIGUSR1, as the benches open the agent's) it profiles the main thread and, through the NodeWorker
// domain, each worker thread: one .cpuprofile per thread, the workers' showing the workers' functions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { busiest } from '../../../bench/clients/threadprof';

interface Profile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
}

test('threadprof: one profile per thread, the workers profiled through the main thread', { timeout: 30_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-threadprof-'));
  const target = spawn(process.execPath, ['--inspect-port=127.0.0.1:0', path.join(__dirname, 'threadprof-target.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (target.exitCode === null) target.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await new Promise<void>((resolve) => target.stdout.once('data', () => resolve()));
  let stderr = '';
  const port = new Promise<string>((resolve) =>
    target.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /ws:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr);
      if (m) resolve(m[1]!);
    }),
  );
  target.kill('SIGUSR1');
  const out = path.join(dir, 'agent');
  const printed = await new Promise<string>((resolve, reject) =>
    void port.then((p) =>
      execFile(process.execPath, [path.join(__dirname, '../../../bench/clients/threadprof.js'), '1', out, p], { timeout: 20_000 }, (err, stdout, se) => (err ? reject(new Error(`${err.message}: ${se}`)) : resolve(stdout))),
    ),
  );
  const files = fs.readdirSync(dir).sort();
  assert.equal(files.length, 3, files.join(' '));
  assert.equal(files[0], 'agent.cpuprofile');
  assert.match(files[1]!, /^agent\.worker-\d+\.cpuprofile$/);
  assert.match(files[2]!, /^agent\.worker-\d+\.cpuprofile$/);
  const has = (p: Profile, fn: string): boolean => p.nodes.some((n) => n.callFrame.functionName === fn);
  const read = (f: string): Profile => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Profile;
  const main = read(files[0]!);
  assert.ok(main.samples.length > 0);
  assert.ok(has(main, 'mainThreadTick') && !has(main, 'workerBusyLoop'), 'the main thread\'s own functions');
  for (const f of files.slice(1)) {
    const w = read(f);
    assert.ok(has(w, 'workerBusyLoop') && !has(w, 'mainThreadTick'), `${f}: the worker's functions`);
    assert.match(busiest(w, 3).join(', '), /busy|workerBusyLoop/);
  }
  assert.equal(printed.trim().split('\n').length, 3, 'one line per file');
});
