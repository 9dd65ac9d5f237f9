// ConfigWatcher against writes that are not atomic: a file truncated and rewritten in place, a file
// written in two parts, and reads that fail with an I/O error (injected through the reader seam, as fd
// exhaustion would make them fail). Nothing half-written is ever reported, and an I/O error is never
// reported as a config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { stringify } from 'yaml';
import { isMeshError, type MeshError } from '../../src/errors';
import type { LoadResult } from '../../src/config/load';
import { readSources } from '../../src/config/sources';
import { ConfigWatcher, type WatchOptions } from '../../src/config/watch';
import { rootLogger } from '../../src/log';

interface LogLine {
  readonly level: number;
  readonly module?: string;
  readonly msg?: string;
  readonly [k: string]: unknown;
}

// Module loggers are prototype children of the root logger: its level and stream are theirs too.
const logs: LogLine[] = [];
rootLogger.level = 'info';
(rootLogger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] = {
  write(s: string): void {
    if (logs.length < 10_000) logs.push(JSON.parse(s) as LogLine);
  },
};

function service(name: string, vip: string): string {
  return stringify({
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name },
    spec: { hosts: [name], addresses: [vip], ports: [{ number: 80, name: 'http' }], resolution: 'STATIC', endpoints: [{ address: '127.0.0.2' }] },
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function keys(r: LoadResult | undefined): string[] {
  assert.ok(r?.ok, r && !r.ok ? JSON.stringify(r.issues) : 'no result');
  return r.config.services.map((s) => s.key);
}

function setup(t: { after: (fn: () => void) => void }, opts: WatchOptions<LoadResult> = {}): { path: string; results: LoadResult[]; watcher: ConfigWatcher } {
  const dir = mkdtempSync(join(tmpdir(), 'nodemesh-settle-'));
  const path = join(dir, 'mesh.yaml');
  const results: LoadResult[] = [];
  // A long poll: what is seen comes from the directory watch (or, for I/O errors, from the backoff).
  const watcher = new ConfigWatcher(path, (r: LoadResult) => results.push(r), { pollMs: 60_000, debounceMs: 20, settleMs: 150, ...opts });
  t.after(() => {
    watcher.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, results, watcher };
}

test('an empty file during a running watch is not applied; the full file that follows is', async (t) => {
  const { path, results, watcher } = setup(t);
  writeFileSync(path, service('a', '127.0.10.1'));
  await watcher.start();
  assert.deepEqual(keys(results[0]), ['default/a']);

  const from = logs.length;
  writeFileSync(path, ''); // truncated by a non-atomic writer that has not written yet
  await until('the log line about the empty file', () => logs.slice(from).some((l) => l.module === 'config.watch' && /empty/.test(l.msg ?? '')));
  await sleep(300);
  assert.equal(results.length, 1, 'the empty file was reported');
  const line = logs.slice(from).find((l) => l.module === 'config.watch' && /empty/.test(l.msg ?? ''));
  assert.match(line?.msg ?? '', /mesh\.yaml: the file is empty: taken as an unfinished write, not as an empty mesh \(the agent keeps its last good config/);
  assert.match(line?.msg ?? '', /"---"/);

  writeFileSync(path, `${service('a', '127.0.10.1')}---\n${service('b', '127.0.10.2')}`);
  await until('the full file', () => results.length === 2);
  assert.deepEqual(keys(results[1]), ['default/a', 'default/b']);
});

test('a file written in two parts is reported once, whole', async (t) => {
  // A settle time well above the gap between the two writes, so a loaded machine does not split them.
  const { path, results, watcher } = setup(t, { settleMs: 400 });
  writeFileSync(path, service('a', '127.0.10.1'));
  await watcher.start();
  // The first part alone is a valid config (it ends between documents): without waiting for the write to
  // settle it would be applied, dropping service b for a while.
  writeFileSync(path, `${service('a', '127.0.10.1')}---\n`);
  await sleep(60);
  appendFileSync(path, service('b', '127.0.10.2'));
  await until('the change', () => results.length >= 2);
  await sleep(600);
  assert.equal(results.length, 2, `reported ${results.length - 1} times`);
  assert.deepEqual(keys(results[1]), ['default/a', 'default/b']);
});

test('an intentionally empty mesh (only ---) is applied', async (t) => {
  const { path, results, watcher } = setup(t);
  writeFileSync(path, service('a', '127.0.10.1'));
  await watcher.start();
  writeFileSync(path, '---\n# no services\n');
  await until('the empty mesh', () => results.length === 2);
  assert.deepEqual(keys(results[1]), []);
});

test('an I/O error reading the config is reported as NM_E_CONFIG_IO, retried with backoff, never as a config', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nodemesh-settle-io-'));
  const path = join(dir, 'mesh.yaml');
  writeFileSync(path, service('a', '127.0.10.1'));
  let failing = 3;
  const calls: number[] = [];
  const errors: MeshError[] = [];
  const results: LoadResult[] = [];
  // What fd exhaustion looks like to the reader: scandir/open fail with EMFILE.
  const read = async (p: string): ReturnType<typeof readSources> => {
    calls.push(Date.now());
    if (failing > 0) {
      failing -= 1;
      throw Object.assign(new Error(`EMFILE: too many open files, scandir '${dir}'`), { code: 'EMFILE', syscall: 'scandir' });
    }
    return readSources(p);
  };
  const watcher = new ConfigWatcher(path, (r: LoadResult) => results.push(r), {
    pollMs: 60_000,
    debounceMs: 20,
    settleMs: 0,
    retryMs: 20,
    read,
    onReadError: (e) => errors.push(e),
  });
  t.after(() => {
    watcher.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const from = logs.length;
  await watcher.start();
  assert.equal(results.length, 0, 'an unreadable config was reported');
  await until('the read after the errors', () => results.length === 1, 3000);
  assert.deepEqual(keys(results[0]), ['default/a']);
  assert.equal(errors.length, 3);
  for (const e of errors) {
    assert.ok(isMeshError(e, 'CONFIG_IO'), String(e));
    assert.equal(e.code, 'NM_E_CONFIG_IO');
    assert.equal(e.details.errno, 'EMFILE');
    assert.match(e.message, /EMFILE/);
  }
  // Retried by the backoff (20, 40, 80 ms), not by the 60 s poll or a filesystem event.
  const gaps = calls.slice(1, 4).map((c, i) => c - (calls[i] ?? 0));
  assert.ok(gaps[0]! >= 15 && gaps[1]! >= 30 && gaps[2]! >= 60 && gaps.every((g) => g < 5000), `gaps ${gaps.join(', ')}`);
  const lines = logs.slice(from).filter((l) => l.module === 'config.watch' && l.code === 'NM_E_CONFIG_IO');
  assert.equal(lines.length, 3);
  assert.match(lines[0]?.msg ?? '', /I\/O error, not a problem of the config/);
  assert.ok(!logs.slice(from).some((l) => l.code === 'NM_E_CONFIG_SCHEMA'));
});
