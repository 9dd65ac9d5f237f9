import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { E, PREFACE, T } from '../../src/codec/h2/constants';
import * as W from '../../src/codec/h2/writer';
import { H2Pool } from '../../src/upstream/h2/pool';
import { eventually } from './proxy-helpers';

// The upstream HTTP/2 pool's SETTINGS_TIMEOUT (RFC 9113 §6.5.3) on loopback: a server that sends its
// SETTINGS but never acknowledges the pool's gets GOAWAY SETTINGS_TIMEOUT, and the stream waiting on
// it fails at once instead of at the request timeout; a server that acknowledges keeps its connection.

interface Seen {
  goaway: number | undefined;
  closed: boolean;
}

/** A raw h2c server: its SETTINGS on connect, an ACK of the client's only when ACK is set; records GOAWAY. */
async function rawServer(ack: boolean): Promise<{ port: number; seen: Seen; close(): void }> {
  const seen: Seen = { goaway: undefined, closed: false };
  const socks = new Set<net.Socket>();
  const srv = net.createServer((sock) => {
    socks.add(sock);
    sock.write(W.settings([]));
    let buf = Buffer.alloc(0);
    let acked = false;
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      let at = buf.subarray(0, PREFACE.length).equals(PREFACE) ? PREFACE.length : 0;
      while (at + 9 <= buf.length) {
        const len = buf.readUIntBE(at, 3);
        if (at + 9 + len > buf.length) break;
        const type = buf[at + 3]!;
        const flags = buf[at + 4]!;
        if (type === T.SETTINGS && (flags & 1) === 0 && ack && !acked) {
          acked = true;
          sock.write(W.settingsAck());
        }
        if (type === T.GOAWAY) seen.goaway = buf.readUInt32BE(at + 9 + 4);
        at += 9 + len;
      }
      buf = buf.subarray(at);
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      seen.closed = true;
      socks.delete(sock);
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    port: (srv.address() as net.AddressInfo).port,
    seen,
    close: () => {
      for (const s of socks) s.destroy();
      srv.close();
    },
  };
}

const HEAD = [':method', 'GET', ':scheme', 'http', ':authority', 'x', ':path', '/'];

test('h2 pool: no SETTINGS ACK within the timeout → GOAWAY SETTINGS_TIMEOUT, the stream aborts; with an ACK the connection stays', async (t) => {
  for (const ack of [false, true]) {
    const srv = await rawServer(ack);
    const pool = new H2Pool({ connectTimeoutMs: 1000, idleTimeoutMs: 0, settingsTimeoutMs: 150 });
    t.after(() => {
      pool.close();
      srv.close();
    });
    const aborted: string[] = [];
    const lease = pool.request(`127.0.0.1:${srv.port}`, { address: '127.0.0.1', port: srv.port }, HEAD, 'GET', { endStream: true }, {
      abort: (why) => aborted.push(why),
    });
    assert.ok(lease.stream.id > 0);
    if (!ack) {
      await eventually(() => aborted.length === 1 && srv.seen.goaway !== undefined, 'the stream aborted and GOAWAY arrived', 300);
      assert.deepEqual(aborted, ['closed']);
      assert.equal(srv.seen.goaway, E.SETTINGS_TIMEOUT);
      assert.equal(lease.session.sock.conn.closed, true);
      await eventually(() => srv.seen.closed, 'the connection closed', 300);
    } else {
      await new Promise((r) => setTimeout(r, 400));
      assert.deepEqual(aborted, []);
      assert.equal(srv.seen.goaway, undefined);
      assert.equal(lease.session.sock.conn.closed, false);
      assert.equal(lease.session.sock.conn.awaitingSettingsAck, false);
    }
    pool.close();
    srv.close();
  }
});
