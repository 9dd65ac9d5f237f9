// The idle-memory bench's pure parts: the launcher's node flags, the generated config (which the agent's
// own reader must accept as meant), and what the probe reads from /proc and require.cache.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildConfig } from '../../../src/config/load';
import { launcherFlags, leanConfig } from '../../../bench/lean';
import { packagesOf, statusKb } from '../../../bench/lean-probe';

test('launcherFlags: the node flags of the exec line, none without one', () => {
  const script = '#!/usr/bin/env bash\nnode=x\nexec "$node" --max-semi-space-size=32 --expose-gc "$here/dist/src/main.js" "$@"\n';
  assert.deepEqual(launcherFlags(script), ['--max-semi-space-size=32', '--expose-gc']);
  assert.deepEqual(launcherFlags('exec "$node" "$here/dist/src/main.js" "$@"\n'), []);
  assert.deepEqual(launcherFlags('echo hi\n'), []);
});

test('leanConfig: N services, one of them on the bench VIP, read by the agent as meant', () => {
  const r = buildConfig({ files: [{ path: 'lean.yaml', name: 'lean.yaml', content: leanConfig(30, 18080) }], issues: [], warnings: [] });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues.slice(0, 3)));
  assert.equal(r.config.services.length, 30);
  const withVip = r.config.services.filter((s) => s.addresses.length > 0);
  assert.deepEqual(withVip.map((s) => s.addresses), [['127.95.0.1']]);
  assert.equal(r.config.services.reduce((n, s) => n + s.endpoints.length, 0), 1 + 29 * 2);
});

test('statusKb and packagesOf', () => {
  assert.deepEqual(statusKb('Name:\tnode\nVmRSS:\t  1000 kB\nRssAnon:\t 400 kB\nRssFile:\t 600 kB\n'), { rssKb: 1000, anonKb: 400, fileKb: 600 });
  assert.deepEqual(
    packagesOf(['/a/dist/src/x.js', '/a/node_modules/yaml/dist/i.js', '/a/node_modules/@grpc/grpc-js/build/a.js', '/a/node_modules/x/node_modules/@s/y/i.js', '/a/node_modules/yaml/dist/j.js']),
    { '(own)': 1, yaml: 2, '@grpc/grpc-js': 1, '@s/y': 1 },
  );
});
