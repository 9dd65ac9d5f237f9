// A worker's JWKS copy: keys as the main thread posts them; a refresh asks once per URI however many
// requests wait, and they all go on when the main thread answers (or when the wait ends).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JwksMirror } from '../../../src/identity/jwks-mirror';

const SET = { keys: [{ kty: 'EC', kid: 'k1' }] };

test('jwks mirror: posted keys, one ask per URI, waiters released by the answer or the wait bound', async () => {
  const asked: string[] = [];
  const m = new JwksMirror((uri) => asked.push(uri), 50);
  m.setAll({ 'https://a/jwks': SET });
  assert.deepEqual(m.keys('https://a/jwks'), SET);
  assert.equal(m.keys('https://b/jwks'), undefined);

  // Two requests without keys for b: one ask; both go on when the main thread posts b's keys.
  const w1 = m.refresh('https://b/jwks');
  const w2 = m.refresh('https://b/jwks');
  assert.deepEqual(asked, ['https://b/jwks']);
  m.fetched('https://b/jwks', SET);
  await Promise.all([w1, w2]);
  assert.deepEqual(m.keys('https://b/jwks'), SET);

  // A fetch that found nothing drops the keys; an unanswered ask ends after the wait bound.
  m.fetched('https://a/jwks', undefined);
  assert.equal(m.keys('https://a/jwks'), undefined);
  const t0 = Date.now();
  await m.refresh('https://c/jwks');
  assert.ok(Date.now() - t0 >= 40, 'waited for the bound');
  assert.deepEqual(asked, ['https://b/jwks', 'https://c/jwks']);
  // The next refresh of c asks again (the earlier one was given up).
  void m.refresh('https://c/jwks');
  assert.equal(asked.length, 3);
  m.fetched('https://c/jwks', SET);
});
