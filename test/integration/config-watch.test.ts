// ConfigWatcher against a real ConfigMap-style mount in a temp dir: kubelet writes a new timestamped
// directory, points `..data_tmp` at it and renames `..data_tmp` over `..data` (an atomic swap).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { LoadResult } from '../../src/config/load';
import { ConfigWatcher } from '../../src/config/watch';

const KEY = 'mesh.yaml';

function meshYaml(vip: string): string {
  return stringify({
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name: 'echo' },
    spec: { hosts: ['echo'], addresses: [vip], ports: [{ number: 80, name: 'http' }], resolution: 'STATIC', endpoints: [{ address: '127.0.0.2' }] },
  });
}

/** A ConfigMap volume as the kubelet lays it out, updated the way the kubelet updates it. */
class FakeConfigMapMount {
  private generation = 0;

  constructor(readonly dir: string) {}

  create(content: string): void {
    const ts = this.writeTimestampDir(content);
    symlinkSync(ts, join(this.dir, '..data'));
    symlinkSync(join('..data', KEY), join(this.dir, KEY));
  }

  update(content: string): void {
    const old = `..gen_${this.generation}`;
    const ts = this.writeTimestampDir(content);
    symlinkSync(ts, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    rmSync(join(this.dir, old), { recursive: true, force: true });
  }

  private writeTimestampDir(content: string): string {
    this.generation += 1;
    const ts = `..gen_${this.generation}`;
    mkdirSync(join(this.dir, ts));
    writeFileSync(join(this.dir, ts, KEY), content);
    return ts;
  }
}

/** Results as they arrive, with a bounded wait for the next one. */
class Results {
  private readonly seen: LoadResult[] = [];
  private waiter: (() => void) | undefined;

  readonly push = (r: LoadResult): void => {
    this.seen.push(r);
    this.waiter?.();
  };

  get count(): number {
    return this.seen.length;
  }

  async next(index: number, timeoutMs = 5000): Promise<LoadResult> {
    const deadline = Date.now() + timeoutMs;
    while (this.seen.length <= index) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no result #${index} within ${timeoutMs} ms (got ${this.seen.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    const r = this.seen[index];
    assert.ok(r);
    return r;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Live timers and filesystem watchers of this process, by type. */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const h of process.getActiveResourcesInfo()) if (h === 'Timeout' || h === 'FSEventWrap') counts[h] = (counts[h] ?? 0) + 1;
  return counts;
}

function vipOf(r: LoadResult): string | undefined {
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues));
  return r.config.services[0]?.addresses[0];
}

function setup(t: { after: (fn: () => void) => void }, opts: { pollMs: number }): { mount: FakeConfigMapMount; results: Results; watcher: ConfigWatcher } {
  const dir = mkdtempSync(join(tmpdir(), 'nodemesh-watch-'));
  const mount = new FakeConfigMapMount(dir);
  const results = new Results();
  const watcher = new ConfigWatcher(dir, results.push, { pollMs: opts.pollMs, debounceMs: 20 });
  t.after(() => {
    watcher.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { mount, results, watcher };
}

test('reports the initial config, each ..data swap, and an invalid update as ok:false', async (t) => {
  // A long poll interval: the changes must be seen through the directory watch.
  const { mount, results, watcher } = setup(t, { pollMs: 60_000 });
  mount.create(meshYaml('127.0.10.1'));
  await watcher.start();
  assert.equal(results.count, 1);
  assert.equal(vipOf(await results.next(0)), '127.0.10.1');

  mount.update(meshYaml('127.0.10.2'));
  assert.equal(vipOf(await results.next(1)), '127.0.10.2');

  mount.update(meshYaml('127.0.10.2').replace('number: 80', 'nmber: 80'));
  const bad = await results.next(2);
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.ok(bad.issues.some((i) => i.field === 'spec.ports[0].nmber'));

  mount.update(meshYaml('127.0.10.3'));
  assert.equal(vipOf(await results.next(3)), '127.0.10.3');
});

test('the same content again is not reported twice', async (t) => {
  const { mount, results, watcher } = setup(t, { pollMs: 60_000 });
  mount.create(meshYaml('127.0.10.1'));
  await watcher.start();
  mount.update(meshYaml('127.0.10.1'));
  await sleep(150);
  await watcher.refresh();
  assert.equal(results.count, 1);
  mount.update(meshYaml('127.0.10.4'));
  assert.equal(vipOf(await results.next(1)), '127.0.10.4');
});

test('the poll catches a change that sends no event to the watched directory', async (t) => {
  // PATH is a symlink to a file in another directory: writes there are invisible to the watch.
  const dir = mkdtempSync(join(tmpdir(), 'nodemesh-watch-poll-'));
  mkdirSync(join(dir, 'real'));
  mkdirSync(join(dir, 'mount'));
  writeFileSync(join(dir, 'real', KEY), meshYaml('127.0.10.1'));
  symlinkSync(join('..', 'real', KEY), join(dir, 'mount', KEY));
  const results = new Results();
  const watcher = new ConfigWatcher(join(dir, 'mount', KEY), results.push, { pollMs: 50, debounceMs: 20 });
  t.after(() => {
    watcher.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await watcher.start();
  writeFileSync(join(dir, 'real', KEY), meshYaml('127.0.10.5'));
  assert.equal(vipOf(await results.next(1)), '127.0.10.5');
});

test('nothing is reported after stop(), and no watcher or timer is left', async (t) => {
  const { mount, results, watcher } = setup(t, { pollMs: 20 });
  mount.create(meshYaml('127.0.10.1'));
  await sleep(10); // let handles of earlier tests finish closing
  const before = handles();
  await watcher.start();
  mount.update(meshYaml('127.0.10.6'));
  assert.notDeepEqual(handles(), before);
  watcher.stop();
  await sleep(10); // closing a watch handle completes on the next loop turn
  assert.deepEqual(handles(), before);
  const count = results.count;
  mount.update(meshYaml('127.0.10.7'));
  await sleep(150);
  assert.equal(results.count, count);
});

test('a single file replaced by an editor-style rename is reported', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nodemesh-watch-file-'));
  const path = join(dir, 'mesh.yaml');
  const results = new Results();
  const watcher = new ConfigWatcher(path, results.push, { pollMs: 60_000, debounceMs: 20 });
  t.after(() => {
    watcher.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(path, meshYaml('127.0.10.1'));
  await watcher.start();
  writeFileSync(join(dir, '.mesh.yaml.swp'), meshYaml('127.0.10.7'));
  renameSync(join(dir, '.mesh.yaml.swp'), path);
  assert.equal(vipOf(await results.next(1)), '127.0.10.7');
});
