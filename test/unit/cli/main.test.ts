// The built entry point as a process: exit statuses and where the text goes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

const MAIN = path.resolve(__dirname, '../../../src/main.js');

function run(args: string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, NODE_ENV: 'test', ...env }, timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('help and version exit 0 on stdout; usage errors exit 2 with one line and a hint', () => {
  const help = run(['agent', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /Usage:\n {2}nodemesh agent \[flags\]/);
  const v = run(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.out, /^nodemesh \d+\.\d+\.\d+/);
  const bad = run(['agent', '--access-log', 'maybe']);
  assert.equal(bad.code, 2);
  assert.equal(bad.out, '');
  assert.equal(bad.err, 'nodemesh: --access-log must be on or off, got "maybe"\nSee \'nodemesh agent --help\' for usage.\n');
});

test('an unknown NODEMESH_LOG_LEVEL: exit 2 before anything starts, one line naming the levels', () => {
  const r = run(['agent', '--no-capture', '--config', '/nonexistent'], { NODEMESH_LOG_LEVEL: 'verbose' });
  assert.equal(r.code, 2);
  assert.match(r.err, /^nodemesh: NODEMESH_LOG_LEVEL="verbose" is not a log level \(one of: fatal, error, warn, info, debug, trace, silent\)\n/);
  assert.doesNotMatch(r.err, /at .*\.js:\d+/);
});

test('stat --pins without pins: exit 1 with NM_E_NO_PINS', () => {
  const r = run(['stat', '--pins', '--bpffs', '/nonexistent']);
  assert.equal(r.code, 1);
  assert.match(r.err, /^nodemesh: NM_E_NO_PINS: .*\/nonexistent.*running with capture/);
});

test('stat and config with no agent there: exit 1 naming the address and what to check', () => {
  for (const argv of [['stat', '--once', '--admin-address', '127.0.0.1:1'], ['config', 'workloads', '--admin-address', '127.0.0.1:1']]) {
    const r = run(argv);
    assert.equal(r.code, 1, argv.join(' '));
    assert.match(r.err, /^nodemesh: NM_E_ADMIN_UNREACHABLE: .*127\.0\.0\.1:1: connection refused .*--admin-port.*--admin-address HOST:PORT\n$/);
  }
  const bad = run(['config', 'pods']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /unknown kind "pods" for "nodemesh config" \(one of: workloads, services, policies, certs\)/);
});
