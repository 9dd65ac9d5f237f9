// The JWKS cache with an injected fetch and clock: first fetch on sync, on-demand refresh bounded by the
// minimum interval and joined while in flight, failures counted with the last good keys kept, URIs no
// longer named dropped; keys that cannot verify tokens ignored, a set of only such keys a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchFailedMessage, JwksCache } from '../../../src/identity/jwks';

/** An HS256 secret of its least length (32 bytes), base64url. */
const K = Buffer.alloc(32, 's').toString('base64url');
const SET = (kid: string): unknown => ({ keys: [{ kty: 'oct', k: K, alg: 'HS256', kid }] });

test('fetch on sync, bounded refresh, failures keep the last good keys, dropped URIs forgotten', async () => {
  let now = 0;
  let answer: () => Response = () => Response.json(SET('k1'));
  const calls: string[] = [];
  const failures: string[] = [];
  const cache = new JwksCache({
    now: () => now,
    minRefetchMs: 1_000,
    refreshMs: 3_600_000,
    fetch: (async (uri: string) => {
      calls.push(uri);
      return answer();
    }) as typeof fetch,
    onFailure: (issuer, _uri, reason) => failures.push(`${issuer}: ${reason}`),
  });
  try {
    cache.sync([{ uri: 'http://a/jwks', issuer: 'a' }]);
    await cache.settled();
    assert.deepEqual(cache.keys('http://a/jwks'), SET('k1'));
    assert.equal(calls.length, 1);

    // Within the minimum interval a refresh asked for by a request fetches nothing.
    await cache.refresh('http://a/jwks');
    assert.equal(calls.length, 1);
    now += 1_500;
    answer = () => Response.json(SET('k2'));
    // Two requests at once share one fetch.
    await Promise.all([cache.refresh('http://a/jwks'), cache.refresh('http://a/jwks')]);
    assert.equal(calls.length, 2);
    assert.deepEqual(cache.keys('http://a/jwks'), SET('k2'));

    now += 1_500;
    answer = () => new Response('down', { status: 503 });
    await cache.refresh('http://a/jwks');
    assert.deepEqual(failures, ['a: HTTP 503']);
    assert.deepEqual(cache.keys('http://a/jwks'), SET('k2'), 'the last good keys stay');
    now += 1_500;
    answer = () => Response.json({ keys: [] });
    await cache.refresh('http://a/jwks');
    assert.equal(failures.length, 2);
    assert.deepEqual(cache.keys('http://a/jwks'), SET('k2'));

    cache.sync([{ uri: 'http://b/jwks', issuer: 'b' }]);
    await cache.settled();
    assert.equal(cache.keys('http://a/jwks'), undefined);
    assert.equal(failures.length, 3, 'b answered no keys either');
    assert.equal(cache.keys('http://b/jwks'), undefined);
  } finally {
    cache.close();
  }
});

test('every refresh is answered through onFetched: after a fetch, at once when throttled or unknown', async () => {
  let now = 0;
  const told: string[] = [];
  const cache = new JwksCache({
    now: () => now,
    minRefetchMs: 1_000,
    refreshMs: 3_600_000,
    fetch: (async () => Response.json(SET('k1'))) as typeof fetch,
    onFetched: (uri, keys) => told.push(`${uri} ${keys === undefined ? 'none' : 'keys'}`),
  });
  try {
    cache.sync([{ uri: 'http://a/jwks', issuer: 'a' }]);
    await cache.settled();
    assert.deepEqual(told, ['http://a/jwks keys'], 'the first fetch');
    await cache.refresh('http://a/jwks');
    assert.deepEqual(told.slice(1), ['http://a/jwks keys'], 'throttled: answered with the keys held, no fetch');
    now += 1_500;
    await cache.refresh('http://a/jwks');
    assert.equal(told.length, 3, 'a real fetch: one answer, not two');
    await cache.refresh('http://b/jwks');
    assert.deepEqual(told.slice(3), ['http://b/jwks none'], 'a URI no config names');
  } finally {
    cache.close();
  }
});

test('unusable keys are kept out of use; a set with no usable key is a failed fetch that keeps the last good keys', async () => {
  let now = 0;
  const good = { kty: 'oct', k: K, kid: 'h1' };
  const noSecret = { kty: 'oct', kid: 'h2' };
  const encryption = { kty: 'oct', k: K, kid: 'e1', use: 'enc' };
  const short = { kty: 'oct', k: 'AA', kid: 's1' };
  let answer: unknown = { keys: [good, noSecret] };
  const failures: string[] = [];
  const cache = new JwksCache({
    now: () => now,
    minRefetchMs: 1_000,
    fetch: (async () => Response.json(answer)) as typeof fetch,
    onFailure: (_issuer, _uri, reason) => failures.push(reason),
  });
  try {
    cache.sync([{ uri: 'http://a/jwks', issuer: 'a' }]);
    await cache.settled();
    assert.deepEqual(cache.keys('http://a/jwks'), { keys: [good, noSecret] }, 'a set with one usable key is taken (the other is never tried)');
    assert.deepEqual(failures, []);
    now += 1_500;
    answer = { keys: [noSecret, encryption] };
    await cache.refresh('http://a/jwks');
    assert.equal(failures.length, 1);
    assert.match(failures[0]!, /^no key of the set can verify tokens: keys\[0\] \(kid "h2"\) is a kty "oct" key without its secret.*; keys\[1\] \(kid "e1"\) has use "enc"/);
    assert.deepEqual(cache.keys('http://a/jwks'), { keys: [good, noSecret] }, 'the last good keys stay');
    // A secret below the hash size (RFC 7518 §3.2) makes the key unusable, as any other bad key.
    now += 1_500;
    answer = { keys: [short] };
    await cache.refresh('http://a/jwks');
    assert.match(failures[1]!, /^no key of the set can verify tokens: keys\[0\] \(kid "s1"\) has a secret of 1 byte in "k": HS256 needs at least 32/);
    now += 1_500;
    answer = { keys: [good, short] };
    await cache.refresh('http://a/jwks');
    assert.equal(failures.length, 2, 'a set with a usable key besides the short one is taken');
    assert.deepEqual(cache.keys('http://a/jwks'), { keys: [good, short] });
  } finally {
    cache.close();
  }
});

test('a failed fetch says what serves the issuer now: the last good keys, or none', () => {
  const cases: [boolean, string][] = [
    [true, 'fetching a JWKS from its jwksUri failed; the last good keys stay in use'],
    [false, 'fetching a JWKS from its jwksUri failed; no keys were fetched yet: tokens of this issuer do not verify (401) until a fetch succeeds'],
  ];
  for (const [kept, want] of cases) assert.equal(fetchFailedMessage(kept), want, `keptKeys ${kept}`);
});
