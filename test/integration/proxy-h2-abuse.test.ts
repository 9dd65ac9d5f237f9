import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sample } from './proxy-helpers';
import { h2backend, h2connect, h2request, H2Harness, meshOf, type H2Backend } from './fixtures/h2-harness';
import { FLAG, frame, literal, ping, rawSession, requestBlock, rst, settings, TYPE, type RawOutcome } from './fixtures/h2frames';
import type { Addr } from '../../src/capture/types';

const VIP = '127.0.104.1';

/** Runs ATTACK while a well-behaved client keeps sending requests; every good request must succeed. */
async function underAttack(entry: Addr, attack: () => Promise<RawOutcome>): Promise<{ outcome: RawOutcome; good: number }> {
  const client = h2connect(entry);
  let stop = false;
  let good = 0;
  const loop = (async () => {
    // Bounded: the attack ends within its own wait, and the loop stops with it.
    for (let i = 0; i < 10_000 && !stop; i++) {
      const r = await h2request(client, { ':path': `/good/${i}` });
      assert.equal(r.status, 200);
      good++;
    }
  })();
  const outcome = await attack();
  stop = true;
  await loop;
  client.close();
  return { outcome, good };
}

async function setup(t: { after: (fn: () => Promise<void>) => void }): Promise<{ mesh: H2Harness; entry: Addr; backend: H2Backend }> {
  const backend = await h2backend((stream) => {
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  const mesh = new H2Harness(meshOf([{ name: 'abused', vip: VIP, endpoints: [backend.addr] }]));
  const entry = await mesh.entry(VIP);
  t.after(async () => {
    await mesh.close();
    await backend.close();
  });
  return { mesh, entry, backend };
}

async function stillServes(entry: Addr): Promise<void> {
  const c = h2connect(entry);
  try {
    assert.equal((await h2request(c, { ':path': '/after' })).status, 200);
  } finally {
    c.close();
  }
}

test('abuse: 10,000 PINGs in one burst close that connection; a concurrent client is unaffected', async (t) => {
  const { entry } = await setup(t);
  const { outcome, good } = await underAttack(entry, () => rawSession(entry, [Array.from({ length: 10_000 }, ping)]));
  assert.ok(outcome.closed, 'the flooding connection was closed');
  assert.ok(good > 0);
  await stillServes(entry);
});

test('abuse: PINGs spread over many writes (each acknowledged) still close the connection', async (t) => {
  const { mesh, entry } = await setup(t);
  const batches = Array.from({ length: 200 }, () => Array.from({ length: 50 }, ping));
  const { outcome } = await underAttack(entry, () => rawSession(entry, batches));
  assert.ok(outcome.closed);
  assert.equal(outcome.goaway, 11, 'GOAWAY ENHANCE_YOUR_CALM');
  assert.equal(await sample(mesh.metrics, 'nodemesh_h2_sessions_closed_total', { reason: 'ping_flood' }), 1);
  await stillServes(entry);
});

test('abuse: 2,000 SETTINGS frames close the connection', async (t) => {
  const { mesh, entry } = await setup(t);
  const { outcome } = await underAttack(entry, () => rawSession(entry, [Array.from({ length: 2_000 }, settings)]));
  assert.ok(outcome.closed);
  assert.equal(await sample(mesh.metrics, 'nodemesh_h2_sessions_closed_total'), 1);
  // Spread out, the guard counts them itself.
  const spread = await rawSession(entry, Array.from({ length: 40 }, () => Array.from({ length: 50 }, settings)));
  assert.ok(spread.closed);
  assert.equal(await sample(mesh.metrics, 'nodemesh_h2_sessions_closed_total'), 2);
  assert.ok((await sample(mesh.metrics, 'nodemesh_h2_sessions_closed_total', { reason: 'settings_flood' })) >= 1);
  await stillServes(entry);
});

test('abuse: a 1 MiB header block in CONTINUATION frames closes the connection before any request is made', async (t) => {
  const { entry, backend } = await setup(t);
  const flood: Buffer[] = [frame(TYPE.HEADERS, 0, 1, requestBlock('/flood'))];
  for (let i = 0; i < 64; i++) {
    const fields = Buffer.concat(Array.from({ length: 4 }, (_, j) => literal(`x-flood-${i}-${j}`, 'v'.repeat(4_000))));
    flood.push(frame(TYPE.CONTINUATION, i === 63 ? FLAG.END_HEADERS : 0, 1, fields));
  }
  const { outcome } = await underAttack(entry, () => rawSession(entry, [flood]));
  assert.ok(outcome.closed);
  assert.equal(backend.requests > 0, true, 'good requests got through');
  await stillServes(entry);
});

test('abuse: rapid reset (HEADERS + RST_STREAM x 5,000) closes the connection; few if any reach the backend', async (t) => {
  const { mesh, entry, backend } = await setup(t);
  const pairs = (from: number, n: number): Buffer[] => {
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const id = 1 + 2 * (from + i);
      out.push(frame(TYPE.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, requestBlock(`/rr/${id}`)), rst(id));
    }
    return out;
  };
  const before = backend.requests;
  const burst = await underAttack(entry, () => rawSession(entry, [pairs(0, 5_000)]));
  assert.ok(burst.outcome.closed);
  // Spread over many reads, the reset guard closes it as well.
  const spread = await rawSession(entry, Array.from({ length: 250 }, (_, b) => pairs(b * 20, 20)));
  assert.ok(spread.closed);
  assert.ok((await sample(mesh.metrics, 'nodemesh_h2_sessions_closed_total')) >= 2);
  // Streams reset in the read that opened them are dropped before any upstream work.
  assert.ok(backend.requests - before - burst.good < 100, `reset streams reached the backend: ${backend.requests - before - burst.good}`);
  await stillServes(entry);
});
