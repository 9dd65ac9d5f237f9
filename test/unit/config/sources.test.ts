// Reading a config path from disk: single files, plain directories and ConfigMap-style mounts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load';
import { readSources } from '../../../src/config/sources';
import { docs, echoSpec, serviceEntry } from './helpers';

function withTempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nodemesh-sources-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const A = docs(serviceEntry('a', echoSpec()));
const B = docs(serviceEntry('b', echoSpec({ hosts: ['b'], addresses: ['127.0.10.2'] })));

test('a single file', async (t) => {
  const dir = withTempDir(t);
  writeFileSync(join(dir, 'mesh.yaml'), `${A}---\n${B}`);
  const r = await loadConfig(join(dir, 'mesh.yaml'));
  assert.ok(r.ok);
  assert.deepEqual(r.config.source.files, [join(dir, 'mesh.yaml')]);
  assert.equal(r.config.services.length, 2);
});

test('a directory: visible yaml/yml/json entries only, sorted', async (t) => {
  const dir = withTempDir(t);
  writeFileSync(join(dir, 'b.yml'), B);
  writeFileSync(join(dir, 'a.yaml'), A);
  writeFileSync(join(dir, 'c.json'), '');
  writeFileSync(join(dir, 'README.md'), 'not config');
  writeFileSync(join(dir, '.hidden.yaml'), 'not: [valid');
  mkdirSync(join(dir, 'sub.yaml'));
  const s = await readSources(dir);
  assert.deepEqual(s.files.map((f) => f.name), ['a.yaml', 'b.yml', 'c.json']);
  assert.deepEqual(s.issues, []);
});

test('a ConfigMap mount: keys are read through ..data, timestamped dirs are skipped', async (t) => {
  const dir = withTempDir(t);
  const ts = '..2024_05_01_10_00_00.000000001';
  mkdirSync(join(dir, ts));
  writeFileSync(join(dir, ts, 'services.yaml'), A);
  writeFileSync(join(dir, ts, 'more.yaml'), B);
  symlinkSync(ts, join(dir, '..data'));
  symlinkSync('..data/services.yaml', join(dir, 'services.yaml'));
  symlinkSync('..data/more.yaml', join(dir, 'more.yaml'));
  const r = await loadConfig(dir);
  assert.ok(r.ok);
  assert.deepEqual(r.config.source.files, [join(dir, 'more.yaml'), join(dir, 'services.yaml')]);
  assert.deepEqual(r.config.services.map((s) => s.key), ['default/a', 'default/b']);
});

test('the hash does not depend on where the config is mounted', async (t) => {
  const one = withTempDir(t);
  const two = withTempDir(t);
  writeFileSync(join(one, 'mesh.yaml'), A);
  writeFileSync(join(two, 'mesh.yaml'), A);
  const [r1, r2] = await Promise.all([loadConfig(one), loadConfig(two)]);
  assert.ok(r1.ok && r2.ok);
  assert.equal(r1.config.source.hash, r2.config.source.hash);
});

test('a missing path is an error naming it', async (t) => {
  const path = join(withTempDir(t), 'nope.yaml');
  const r = await loadConfig(path);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.issues, [{ file: path, document: -1, message: 'does not exist' }]);
});

test('a dangling key symlink (removed during an update) is skipped', async (t) => {
  const dir = withTempDir(t);
  writeFileSync(join(dir, 'a.yaml'), A);
  symlinkSync('..data/gone.yaml', join(dir, 'gone.yaml'));
  const r = await loadConfig(dir);
  assert.ok(r.ok);
  assert.deepEqual(r.config.source.files, [join(dir, 'a.yaml')]);
});

test('an empty directory is a valid, empty mesh with a warning', async (t) => {
  const dir = withTempDir(t);
  const r = await loadConfig(dir);
  assert.ok(r.ok);
  assert.deepEqual(r.config.services, []);
  assert.match(r.warnings[0]?.message ?? '', /no \*\.yaml/);
});

test('issues from several files all come back, in file order', async (t) => {
  const dir = withTempDir(t);
  writeFileSync(join(dir, 'b.yaml'), docs(serviceEntry('b', echoSpec({ ports: [{ number: 0, name: 'http' }] }))));
  writeFileSync(join(dir, 'a.yaml'), 'kind: [\n');
  const r = await loadConfig(dir);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.issues.map((i) => [i.file, i.field]), [[join(dir, 'a.yaml'), undefined], [join(dir, 'b.yaml'), 'spec.ports[0].number']]);
});
