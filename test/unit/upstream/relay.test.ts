// RelaySet: relays are made on first use, listening before the dial that asked for them, shared by the
// same (identity, client, endpoint), and closed when their route goes or they sit idle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { PassThrough } from 'node:stream';
import { RelaySet, type RelayRoute } from '../../../src/upstream/relay';

const route = (client: string, target: string, identity = 'spiffe://cluster.local/ns/a/sa/client'): RelayRoute => ({
  identity,
  client: { address: client, port: 0 },
  target: { address: target, port: 8080 },
});

const connects = (path: string): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

test('a relay is made on first use and is listening at once; the same route gets the same relay', async (t) => {
  const opened: RelayRoute[] = [];
  const set = new RelaySet(async (r) => (opened.push(r), new PassThrough()));
  t.after(() => set.close());
  const a = set.ensure(route('10.0.0.1', '10.1.0.5'));
  assert.ok(a && a.port === 0 && a.address.startsWith('/'));
  assert.equal(await connects(a.address), true, 'connect right after ensure() succeeds');
  assert.deepEqual(set.ensure(route('10.0.0.1', '10.1.0.5')), a);
  assert.notDeepEqual(set.ensure(route('10.0.0.2', '10.1.0.5')), a, 'another client has its own relay');
  assert.notDeepEqual(set.ensure(route('10.0.0.1', '10.1.0.5', 'spiffe://cluster.local/ns/a/sa/other')), a, 'another identity too');
  assert.equal(set.size, 3);
});

test('retain closes the relays of routes no longer wanted; closeIdle those unused for long', async (t) => {
  const set = new RelaySet(async () => new PassThrough());
  t.after(() => set.close());
  const keep = set.ensure(route('10.0.0.1', '10.1.0.5'))!;
  const drop = set.ensure(route('10.0.0.1', '10.1.0.6'))!;
  set.retain((r) => r.target.address === '10.1.0.5');
  assert.equal(set.size, 1);
  assert.equal(await connects(drop.address), false);
  assert.equal(await connects(keep.address), true);
  // A relay with a connection open is never idle; one without is, once unused for long enough.
  const idle = set.ensure(route('10.0.0.9', '10.1.0.5'))!;
  set.closeIdle(Date.now() - 60_000);
  assert.equal(set.size, 2, 'used a moment ago: kept');
  set.closeIdle(Date.now() + 1);
  assert.equal(set.size, 1, 'the idle one is closed, the one carrying a connection stays');
  assert.equal(await connects(idle.address), false);
  assert.ok(set.ensure(route('10.0.0.9', '10.1.0.5')), 'made again when needed');
});
