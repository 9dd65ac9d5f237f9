import assert from 'node:assert/strict';
import { test } from 'node:test';
import { onlyFlags, parseArgs, str } from '../../../src/cli';

const B = new Set(['no-capture']);

test('parseArgs: table', () => {
  const cases: { argv: string[]; command: string; flags: Record<string, string | true>; positional?: string[] }[] = [
    { argv: [], command: 'help', flags: {} },
    { argv: ['agent', '--config', 'x.yaml'], command: 'agent', flags: { config: 'x.yaml' } },
    { argv: ['agent', '--config=x.yaml', '--no-capture'], command: 'agent', flags: { config: 'x.yaml', 'no-capture': true } },
    { argv: ['check', 'dir/'], command: 'check', flags: {}, positional: ['dir/'] },
  ];
  for (const c of cases) {
    const a = parseArgs(c.argv, B);
    assert.equal(a.command, c.command);
    assert.deepEqual(Object.fromEntries(a.flags), c.flags);
    assert.deepEqual(a.positional, c.positional ?? []);
  }
});

test('usage errors name the flag', () => {
  assert.throws(() => parseArgs(['agent', '--config'], B), /--config needs a value/);
  assert.throws(() => parseArgs(['agent', '--config', '--no-capture'], B), /--config needs a value/);
  assert.throws(() => onlyFlags(parseArgs(['agent', '--confg', 'x'], B), ['config']), /unknown flag --confg/);
  assert.equal(str(parseArgs(['agent'], B), 'config', 'd'), 'd');
});
