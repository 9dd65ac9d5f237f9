import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NODE_NAME_EXTRA, type CallerResult } from '../../../src/ca/caller';
import { httpStatusOf, ReviewAuthenticator, type ReviewPost } from '../../../src/ca/review';

const AGENT = { namespace: 'nodemesh-system', name: 'nodemesh' };
const USER = 'system:serviceaccount:nodemesh-system:nodemesh';
const reviewed = (node: string): unknown => ({ authenticated: true, user: { username: USER, extra: { [NODE_NAME_EXTRA]: [node] } }, audiences: ['nodemesh-ca'] });

interface Harness {
  auth: ReviewAuthenticator;
  posts: { token: string; audiences: string[] }[];
  logs: { level: string; msg: string }[];
  clock: { t: number };
}

function harness(answer: (token: string) => Promise<unknown>, extra: { cacheMax?: number; timeoutMs?: number } = {}): Harness {
  const posts: Harness['posts'] = [];
  const logs: Harness['logs'] = [];
  const clock = { t: 1_000_000 };
  const post: ReviewPost = (token, audiences) => {
    posts.push({ token, audiences });
    return answer(token);
  };
  const record = (level: string) => (...a: unknown[]): void => void logs.push({ level, msg: String(a.find((x) => typeof x === 'string') ?? '') });
  const auth = new ReviewAuthenticator({
    post,
    audience: 'nodemesh-ca',
    agent: AGENT,
    pods: { synced: true, pod: () => undefined },
    now: () => clock.t,
    log: { error: record('error'), warn: record('warn'), info: record('info') } as never,
    ...extra,
  });
  return { auth, posts, logs, clock };
}

const nodeOf = (r: CallerResult): string => (r.ok ? r.node : `${r.code}: ${r.reason}`);

test('positive reviews are reused for 60 s, keyed by the token; the audience is asked for', async () => {
  const h = harness(async (t) => reviewed(t === 'tok-a' ? 'node-a' : 'node-b'));
  assert.equal(nodeOf(await h.auth.authenticate('tok-a')), 'node-a');
  assert.deepEqual(h.posts, [{ token: 'tok-a', audiences: ['nodemesh-ca'] }]);
  h.clock.t += 59_000;
  assert.equal(nodeOf(await h.auth.authenticate('tok-a')), 'node-a');
  assert.equal(nodeOf(await h.auth.authenticate('tok-b')), 'node-b', 'another token is another entry');
  assert.equal(h.posts.length, 2);
  h.clock.t += 2_000;
  await h.auth.authenticate('tok-a');
  assert.equal(h.posts.length, 3, 'reviewed again after 60 s');
});

test('negative reviews are not cached; concurrent checks of one token share one review', async () => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const h = harness(async (t) => {
    await gate;
    return t === 'bad' ? { authenticated: false, user: {}, error: 'invalid bearer token' } : reviewed('node-a');
  });
  const many = [h.auth.authenticate('good'), h.auth.authenticate('good'), h.auth.authenticate('good')];
  release();
  assert.deepEqual((await Promise.all(many)).map(nodeOf), ['node-a', 'node-a', 'node-a']);
  assert.equal(h.posts.length, 1);
  const bad1 = await h.auth.authenticate('bad');
  const bad2 = await h.auth.authenticate('bad');
  assert.ok(!bad1.ok && bad1.code === 'UNAUTHENTICATED' && /invalid bearer token/.test(bad1.reason));
  assert.ok(!bad2.ok);
  assert.equal(h.posts.length, 3);
});

test('403 from the API: UNAVAILABLE, logged once until TokenReview works again', async () => {
  let forbid = true;
  const h = harness(async () => {
    if (forbid) throw Object.assign(new Error('HTTP-Code: 403'), { code: 403, body: '{"message":"forbidden"}' });
    return reviewed('node-a');
  });
  for (const t of ['t1', 't2', 't3']) {
    const r = await h.auth.authenticate(t);
    assert.ok(!r.ok && r.code === 'UNAVAILABLE' && /RBAC/.test(r.reason), nodeOf(r));
  }
  assert.equal(h.logs.filter((l) => l.level === 'error').length, 1);
  assert.match(h.logs[0]?.msg ?? '', /tokenreviews/);
  forbid = false;
  assert.equal(nodeOf(await h.auth.authenticate('t1')), 'node-a');
  forbid = true;
  await h.auth.authenticate('t4');
  assert.equal(h.logs.filter((l) => l.level === 'error').length, 2, 'a new refusal after a success is logged again');
});

test('API away or slow: UNAVAILABLE, one warning per distinct failure', async () => {
  const h = harness(async (t) => {
    if (t === 'slow') return new Promise(() => undefined);
    throw new Error('connect ECONNREFUSED 127.0.0.1:1');
  }, { timeoutMs: 50 });
  for (const t of ['a', 'b']) {
    const r = await h.auth.authenticate(t);
    assert.ok(!r.ok && r.code === 'UNAVAILABLE', nodeOf(r));
  }
  assert.equal(h.logs.filter((l) => l.level === 'warn').length, 1);
  const slow = await h.auth.authenticate('slow');
  assert.ok(!slow.ok && slow.code === 'UNAVAILABLE');
  assert.equal(h.logs.filter((l) => l.level === 'warn').length, 2, 'the timeout is another failure');
});

test('the cache is bounded: the oldest entries go first', async () => {
  const h = harness(async () => reviewed('node-a'), { cacheMax: 3 });
  for (const t of ['t1', 't2', 't3', 't4']) await h.auth.authenticate(t);
  assert.equal(h.posts.length, 4);
  await h.auth.authenticate('t4');
  await h.auth.authenticate('t2');
  assert.equal(h.posts.length, 4, 't2..t4 still cached');
  await h.auth.authenticate('t1');
  assert.equal(h.posts.length, 5, 't1 was evicted');
});

test('httpStatusOf: ApiException code, statusCode, else undefined', () => {
  assert.equal(httpStatusOf({ code: 403 }), 403);
  assert.equal(httpStatusOf({ statusCode: 410 }), 410);
  assert.equal(httpStatusOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), undefined);
  assert.equal(httpStatusOf(null), undefined);
});
