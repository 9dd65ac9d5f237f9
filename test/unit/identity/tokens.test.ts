import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { caCommand, parseSeconds } from '../../../src/ca/main';
import { NodeTokens, parseNodeTokens } from '../../../src/ca/tokens';
import { parseArgs } from '../../../src/cli';
import { isMeshError } from '../../../src/errors';

test('parseNodeTokens: YAML or JSON object, refusals name the problem', () => {
  assert.deepEqual([...parseNodeTokens('node-a: tok-a\nnode-b: "tok-b"\n')], [['node-a', 'tok-a'], ['node-b', 'tok-b']]);
  assert.deepEqual([...parseNodeTokens('{"n1": "t1"}')], [['n1', 't1']]);
  const bad: [string, RegExp][] = [
    ['- a\n- b\n', /expected an object/],
    ['just a string', /expected an object/],
    ['a: 1\n', /must be a non-empty string/],
    ['a: ""\n', /must be a non-empty string/],
    ['a: "x y"\n', /without spaces/],
    ['a: t\nb: t\n', /reuses another node's token/],
    ['a: [\n', /./],
  ];
  for (const [text, re] of bad) assert.throws(() => parseNodeTokens(text, 'f.yaml'), (e: unknown) => isMeshError(e, 'NODE_TOKENS') && re.test((e as Error).message), text);
});

test('NodeTokens.lookup: exact tokens only', () => {
  const t = NodeTokens.fromRecord({ 'node-a': 'secret-a', 'node-b': 'secret-b' });
  assert.equal(t.lookup('secret-a'), 'node-a');
  assert.equal(t.lookup('secret-b'), 'node-b');
  for (const wrong of ['', 'secret', 'secret-a ', 'SECRET-A', 'secret-ab']) assert.equal(t.lookup(wrong), undefined, wrong);
});

test('NodeTokens.fromFile: missing file is an error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nm-tokens-'));
  try {
    assert.throws(() => NodeTokens.fromFile(join(dir, 'nope.yaml')), (e: unknown) => isMeshError(e, 'NODE_TOKENS'));
    writeFileSync(join(dir, 't.json'), JSON.stringify({ n: 'tok' }));
    assert.equal(NodeTokens.fromFile(join(dir, 't.json')).lookup('tok'), 'n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ca command line: table', () => {
  const base = ['ca', '--dir', 'd', '--node-tokens', 't.yaml', '--config', 'c'];
  const ok = caCommand(parseArgs(base, new Set()));
  assert.deepEqual(ok, { listen: '0.0.0.0:15012', dir: 'd', trustDomain: 'cluster.local', nodeTokens: 't.yaml', config: 'c', maxTtlSeconds: 86400, serverNames: [] });
  const full = caCommand(parseArgs([...base, '--listen', '[::1]:9000', '--trust-domain', 'corp.example', '--max-ttl', '7d', '--server-name', 'ca.mesh,10.0.0.5'], new Set()));
  assert.equal(full.listen, '[::1]:9000');
  assert.equal(full.maxTtlSeconds, 7 * 86400);
  assert.deepEqual(full.serverNames, ['ca.mesh', '10.0.0.5']);
  const bad: [string[], RegExp][] = [
    [['ca', '--node-tokens', 't', '--config', 'c'], /--dir is required/],
    [['ca', '--dir', 'd', '--config', 'c'], /--node-tokens is required/],
    [['ca', '--dir', 'd', '--node-tokens', 't'], /--config is required/],
    [[...base, '--trust-domain', 'Bad'], /--trust-domain must be/],
    [[...base, '--listen', '15012'], /--listen must be ADDR:PORT/],
    [[...base, '--max-ttl', '1w'], /--max-ttl must be a duration/],
    [[...base, '--lsten', 'x'], /unknown flag --lsten/],
  ];
  for (const [argv, re] of bad) assert.throws(() => caCommand(parseArgs(argv, new Set())), re, argv.join(' '));
  assert.equal(parseSeconds('x', '90'), 90);
  assert.equal(parseSeconds('x', '30m'), 1800);
  assert.equal(parseSeconds('x', '24h'), 86400);
});
