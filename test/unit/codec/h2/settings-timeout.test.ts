import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E, T } from '../../../../src/codec/h2/constants';
import { H2Connection } from '../../../../src/codec/h2/connection';
import * as W from '../../../../src/codec/h2/writer';
import { parseFrames } from './harness';

// SETTINGS_TIMEOUT (RFC 9113 §6.5.3): the codec has no timers; its owner calls settingsTimeout() when
// its clock runs out, and the connection fails only if this side's SETTINGS are still unacknowledged.

const goawayCode = (out: Buffer[]): number | undefined => {
  const g = parseFrames(Buffer.concat(out)).find((f) => f.type === T.GOAWAY);
  return g === undefined ? undefined : g.payload.readUInt32BE(4);
};

test('settingsTimeout: unacknowledged SETTINGS → connection error SETTINGS_TIMEOUT, GOAWAY sent; acknowledged → nothing', () => {
  const cases = [
    { name: 'no answer at all', frames: [] as Buffer[], fails: true },
    { name: 'peer SETTINGS but no ACK', frames: [W.settings([])], fails: true },
    { name: 'peer SETTINGS and ACK', frames: [W.settings([]), W.settingsAck()], fails: false },
  ];
  for (const c of cases) {
    const conn = new H2Connection({ role: 'client' });
    conn.takeOutput();
    for (const f of c.frames) conn.receive(f);
    conn.takeOutput();
    assert.equal(conn.awaitingSettingsAck, c.fails, c.name);
    conn.settingsTimeout();
    const events = conn.takeEvents();
    const out = conn.takeOutput();
    if (c.fails) {
      assert.equal(conn.closed, true, c.name);
      assert.equal(goawayCode(out), E.SETTINGS_TIMEOUT, c.name);
      const err = events.find((e) => e.kind === 'error');
      assert.ok(err !== undefined && err.kind === 'error' && err.code === E.SETTINGS_TIMEOUT, c.name);
    } else {
      assert.equal(conn.closed, false, c.name);
      assert.equal(out.length, 0, c.name);
      assert.equal(events.length, 0, c.name);
    }
  }
});

test('settingsTimeout: a stream open when it runs out ends with the connection; a second call does nothing', () => {
  const conn = new H2Connection({ role: 'client' });
  conn.receive(W.settings([]));
  const id = conn.request([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'x'], true, 'GET');
  assert.equal(id, 1);
  conn.takeOutput();
  conn.settingsTimeout();
  assert.equal(conn.closed, true);
  assert.equal(conn.request([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'x'], true, 'GET'), 0);
  assert.equal(goawayCode(conn.takeOutput()), E.SETTINGS_TIMEOUT);
  conn.settingsTimeout();
  assert.equal(conn.takeOutput().length, 0);
});
