import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectsContinue } from '../../../src/downstream/h2/stream';

test('expectsContinue: which expect values ask for a 100', () => {
  const rows: [string | undefined, boolean][] = [
    ['100-continue', true],
    ['100-Continue', true],
    [' 100-continue ', true],
    [undefined, false],
    ['', false],
    ['100-continue-x', false],
    ['200-ok', false],
    ['100', false],
  ];
  for (const [value, want] of rows) assert.equal(expectsContinue(value), want, String(value));
});
