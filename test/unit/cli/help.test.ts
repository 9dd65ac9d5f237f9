// --help output, the README's flag table and the defaults other modules hold, all against the one table.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { DEFAULTS } from '../../../src/options';
import { CA_FLAGS } from '../../../src/ca/main';
import { DEFAULT_AGENT_ACCOUNT, DEFAULT_TOKEN_AUDIENCE } from '../../../src/ca/caller';
import { DEFAULT_CAPACITY, MAX_CAPACITY } from '../../../src/capture/capacity';
import { COMMANDS, FLAGS, flagNames, flagSpec, flagsOf } from '../../../src/cli/flags';
import { commandUsage, mainUsage, markdownFlagTable, README_TABLE_HEAD } from '../../../src/cli/help';
import { DEFAULT_TRUST_DOMAIN } from '../../../src/identity/spiffe';

const ROOT = path.resolve(__dirname, '../../../..');

test('nodemesh --help lists every command and how to get its flags', () => {
  const u = mainUsage();
  for (const c of [...COMMANDS, 'version']) assert.match(u, new RegExp(`^  ${c} +\\S`, 'm'), c);
  assert.match(u, /nodemesh COMMAND --help/);
});

test('nodemesh COMMAND --help: every flag of the command, its placeholder and its default', () => {
  for (const c of COMMANDS) {
    const u = commandUsage(c);
    assert.match(u, new RegExp(`^Usage:\\n  nodemesh ${c}`, 'm'), c);
    assert.match(u, /-h, --help/);
    for (const f of flagsOf(c)) {
      const line = u.split('\n').findIndex((l) => l.includes(`--${f.name}${f.metavar ? ` ${f.metavar}` : ''}`));
      assert.ok(line >= 0, `${c}: --${f.name} missing from --help`);
      const shown = f.defaultText ?? f.default;
      // the default may be wrapped onto the flag's next lines
      if (shown !== undefined) assert.ok(u.split('\n').slice(line, line + 4).join(' ').replace(/\s+/g, ' ').includes(shown.replace(/\s+/g, ' ')), `${c}: --${f.name} default ${shown}`);
    }
    for (const l of u.split('\n')) assert.ok(l.length <= 100, `${c}: line longer than 100 columns: ${l}`);
  }
  // flags of other commands are not offered
  assert.doesNotMatch(commandUsage('stat'), /--cgroup/);
  assert.match(commandUsage('check'), /nodemesh check \[flags\] PATH/);
  assert.match(commandUsage('agent'), /--access-log on\|off +one Envoy-style JSON line per request \(default on\)/);
});

/** The README's flag table rows: flag (without placeholder), commands, default cell. */
function readmeRows(): Map<string, string> {
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = text.indexOf(README_TABLE_HEAD);
  assert.ok(start >= 0, `README.md has no table headed ${README_TABLE_HEAD}`);
  const rows = new Map<string, string>();
  for (const line of text.slice(start).split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    const name = /^`--([a-z0-9-]+)/.exec(cells[0] ?? '')?.[1];
    assert.ok(name, `README flag row without a flag: ${line}`);
    for (const c of (cells[1] ?? '').split(',').map((s) => s.trim())) rows.set(`${c} --${name}`, cells[2] ?? '');
  }
  return rows;
}

test('README.md: every flag of the table with its commands and default, and no other', () => {
  const rows = readmeRows();
  const hint = `\nregenerate README.md's flag table from src/cli/flags.ts:\n${markdownFlagTable()}\n`;
  const want = new Set<string>();
  for (const f of FLAGS) {
    const d = f.defaultText ?? (f.default !== undefined ? `\`${f.default}\`` : '');
    for (const c of f.commands) {
      want.add(`${c} --${f.name}`);
      assert.ok(rows.has(`${c} --${f.name}`), `README.md lacks --${f.name} for ${c}${hint}`);
      assert.equal(rows.get(`${c} --${f.name}`)?.replace(/\\\|/g, '|').replace(/&lt;/g, '<').replace(/&gt;/g, '>'), d, `README.md default of --${f.name} for ${c}${hint}`);
    }
  }
  for (const k of rows.keys()) assert.ok(want.has(k), `README.md documents ${k}, which is not in the flag table${hint}`);
});

test('defaults agree with the modules that use them when a flag is absent', () => {
  const def = (cmd: 'agent' | 'ca', name: string): string | undefined => flagSpec(cmd, name)?.default;
  assert.equal(def('agent', 'cgroup'), DEFAULTS.cgroup);
  assert.equal(def('agent', 'bpffs'), DEFAULTS.bpffs);
  assert.equal(def('agent', 'node-ip'), DEFAULTS.nodeIp);
  assert.equal(def('agent', 'outbound-port'), String(DEFAULTS.outboundPort));
  assert.equal(def('agent', 'admin-host'), DEFAULTS.adminHost);
  assert.equal(def('agent', 'metrics-port'), String(DEFAULTS.metricsPort));
  assert.equal(def('agent', 'ready-port'), String(DEFAULTS.readyPort));
  assert.equal(def('agent', 'tunnel-port'), String(DEFAULTS.tunnelPort));
  assert.equal(def('agent', 'trust-domain'), DEFAULTS.trustDomain);
  assert.equal(def('agent', 'cluster-id'), DEFAULTS.clusterId);
  assert.equal(def('agent', 'cluster-domain'), DEFAULTS.clusterDomain);
  assert.equal(def('agent', 'max-services'), String(DEFAULT_CAPACITY.services));
  assert.equal(def('agent', 'max-backends'), String(DEFAULT_CAPACITY.backends));
  assert.equal(def('agent', 'max-connections'), String(DEFAULT_CAPACITY.connections));
  assert.equal(def('agent', 'max-meshed-pods'), String(DEFAULT_CAPACITY.meshedPods));
  for (const n of ['max-services', 'max-backends', 'max-connections', 'max-meshed-pods']) assert.equal(flagSpec('agent', n)?.max, MAX_CAPACITY, n);
  assert.equal(def('ca', 'trust-domain'), DEFAULT_TRUST_DOMAIN);
  assert.equal(def('ca', 'token-audience'), DEFAULT_TOKEN_AUDIENCE);
  assert.equal(def('ca', 'agent-service-account'), DEFAULT_AGENT_ACCOUNT);
});

test('nodemesh ca: the table has exactly the flags caCommand accepts', () => {
  assert.deepEqual(flagNames('ca').sort(), [...CA_FLAGS].sort());
});
