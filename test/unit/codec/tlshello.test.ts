import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_HELLO, parseClientHello, type HelloResult } from '../../../src/codec/tlshello';
import { HELLOS, hello } from './tlshello-fixtures';

const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const u24 = (n: number): number[] => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];

/** An extension of TYPE with DATA. */
function ext(type: number, data: number[]): number[] {
  return [...u16(type), ...u16(data.length), ...data];
}

/** The server_name extension naming NAMES (host_name entries unless a [type, name] pair is given). */
function sniExt(...names: (string | [number, string])[]): number[] {
  const list = names.flatMap((n) => {
    const [type, name] = typeof n === 'string' ? [0, n] : n;
    const b = [...Buffer.from(name, 'latin1')];
    return [type, ...u16(b.length), ...b];
  });
  return ext(0, [...u16(list.length), ...list]);
}

/** A ClientHello body: version, random, session id, suites, compression, then EXTS (undefined: none at all). */
function body(exts: number[] | undefined, over: { sessionId?: number; suites?: number[]; compression?: number[]; version?: number[] } = {}): number[] {
  const sid = new Array<number>(over.sessionId ?? 32).fill(7);
  const suites = over.suites ?? [0x13, 0x01, 0x13, 0x02];
  const compression = over.compression ?? [0];
  const head = [...(over.version ?? [3, 3]), ...new Array<number>(32).fill(1), sid.length, ...sid, ...u16(suites.length), ...suites, compression.length, ...compression];
  return exts === undefined ? head : [...head, ...u16(exts.length), ...exts];
}

/** BODY as a handshake message in records of at most SPLIT bytes. */
function records(b: number[], split = 16_384, type = 1): Buffer {
  const msg = [type, ...u24(b.length), ...b];
  const out: number[] = [];
  for (let i = 0; i < msg.length; i += split) {
    const part = msg.slice(i, i + split);
    out.push(0x16, 3, 1, ...u16(part.length), ...part);
  }
  return Buffer.from(out);
}

const helloOf = (sni: string | undefined): HelloResult => ({ kind: 'hello', sni });
const kind = (r: HelloResult): string => (r.kind === 'hello' ? `hello ${r.sni ?? '(no sni)'}` : r.kind);

test('real ClientHellos from openssl s_client, node tls and curl', () => {
  const want: Record<string, string | undefined> = {
    openssl_a: 'a.example.com',
    openssl_noname: undefined,
    openssl_tls12: 'b.example.com',
    node_b: 'b.example.com',
    node_alpn: 'api.shop.svc.cluster.local',
    curl: 'c.example.com',
  };
  for (const [name, sni] of Object.entries(want)) {
    assert.deepEqual(parseClientHello(hello(name)), helloOf(sni), `${name}: ${HELLOS[name]!.what}`);
  }
});

test('every proper prefix of a real hello asks for more bytes', () => {
  for (const name of Object.keys(HELLOS)) {
    const b = hello(name);
    for (let n = 0; n < b.length; n++) assert.equal(parseClientHello(b.subarray(0, n)).kind, 'need-more', `${name} cut at ${n}`);
  }
});

test('a real hello re-framed into small records is reassembled; bytes after it are ignored', () => {
  const b = hello('node_b');
  const msg = [...b.subarray(5)];
  for (const split of [1, 3, 4, 5, 100, 1000]) {
    const framed = records(msg.slice(4), split, msg[0]);
    assert.deepEqual(parseClientHello(framed), helloOf('b.example.com'), `records of ${split}`);
    for (const n of [framed.length - 1, 7, 12]) assert.equal(parseClientHello(framed.subarray(0, n)).kind, 'need-more', `split ${split} cut at ${n}`);
  }
  // Application data (0-RTT) after the hello record.
  assert.deepEqual(parseClientHello(Buffer.concat([b, Buffer.from([0x17, 3, 3, 0, 1, 0])])), helloOf('b.example.com'));
});

test('table: built hellos', () => {
  const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`; // 253 bytes
  const rows: [string, Buffer, string][] = [
    ['one host name', records(body(sniExt('a.example.com'))), 'hello a.example.com'],
    ['upper case is lowered', records(body(sniExt('A.Example.COM'))), 'hello a.example.com'],
    ['underscore and digits', records(body(sniExt('_svc-1.x9.io'))), 'hello _svc-1.x9.io'],
    ['253-byte name', records(body(sniExt(long))), `hello ${long}`],
    ['no extensions at all', records(body(undefined)), 'hello (no sni)'],
    ['empty extension list', records(body([])), 'hello (no sni)'],
    ['other extensions only', records(body([...ext(16, [0, 3, 2, 0x68, 0x32]), ...ext(43, [2, 3, 4])])), 'hello (no sni)'],
    ['sni after other extensions', records(body([...ext(10, [0, 2, 0, 0x1d]), ...sniExt('x.io')])), 'hello x.io'],
    ['unknown name type skipped', records(body(sniExt([5, 'opaque'], 'x.io'))), 'hello x.io'],
    ['empty session id', records(body(sniExt('x.io'), { sessionId: 0 })), 'hello x.io'],
    ['not a handshake record', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'invalid'],
    ['SSLv2-style first byte', Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]), 'invalid'],
    ['record version 2.x', Buffer.from([0x16, 0x02, 0x00, 0x00, 0x10]), 'invalid'],
    ['record version 3.9', Buffer.from([0x16, 0x03, 0x09]), 'invalid'],
    ['empty record', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]), 'invalid'],
    ['record over 2^14', Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01]), 'invalid'],
    ['ServerHello, not ClientHello', records(body(sniExt('x.io')), 16_384, 2), 'invalid'],
    ['hello over the cap', Buffer.from([0x16, 3, 1, 0, 4, 1, ...u24(MAX_HELLO)]), 'invalid'],
    ['alert between hello records', Buffer.concat([records(body(sniExt('x.io')), 10).subarray(0, 15), Buffer.from([0x15, 3, 3, 0, 2, 2, 40])]), 'invalid'],
    ['record longer than the hello', (() => {
      const r = records(body(sniExt('x.io')));
      const b = Buffer.concat([r, Buffer.from([0, 0])]);
      b.writeUInt16BE(r.length - 5 + 2, 3);
      return b;
    })(), 'invalid'],
    ['client version 2.0', records(body(sniExt('x.io'), { version: [2, 0] })), 'invalid'],
    ['session id of 33', records(body(sniExt('x.io'), { sessionId: 33 })), 'invalid'],
    ['odd suites length', records(body(sniExt('x.io'), { suites: [0x13, 0x01, 0x13] })), 'invalid'],
    ['no suites', records(body(sniExt('x.io'), { suites: [] })), 'invalid'],
    ['no compression methods', records(body(sniExt('x.io'), { compression: [] })), 'invalid'],
    ['extension length past the list', records(body([0, 16, 0, 9, 0])), 'invalid'],
    ['extensions length past the hello', records([...body([]).slice(0, -2), 0, 9]), 'invalid'],
    ['bytes after the extensions', records([...body(sniExt('x.io')), 0]), 'invalid'],
    ['duplicate extension', records(body([...sniExt('x.io'), ...sniExt('y.io')])), 'invalid'],
    ['two host names', records(body(sniExt('x.io', 'y.io'))), 'invalid'],
    ['empty server name extension', records(body(ext(0, []))), 'invalid'],
    ['empty server name list', records(body(ext(0, [0, 0]))), 'invalid'],
    ['list length past the extension', records(body(ext(0, [0, 9, 0, 0, 1, 0x61]))), 'invalid'],
    ['bytes after the name list', records(body(ext(0, [0, 4, 0, 0, 1, 0x61, 0]))), 'invalid'],
    ['empty host name', records(body(sniExt(''))), 'invalid'],
    ['trailing dot', records(body(sniExt('x.io.'))), 'invalid'],
    ['empty label', records(body(sniExt('x..io'))), 'invalid'],
    ['space in the name', records(body(sniExt('x y.io'))), 'invalid'],
    ['NUL in the name', records(body(sniExt('x\0.io'))), 'invalid'],
    ['non-ASCII byte', records(body(sniExt('caf\xe9.io'))), 'invalid'],
    ['IP literal allowed as a name shape', records(body(sniExt('10.0.0.1'))), 'hello 10.0.0.1'],
    ['label of 64', records(body(sniExt(`${'a'.repeat(64)}.io`))), 'invalid'],
    ['254-byte name', records(body(sniExt(`${long}.x`.slice(0, 254)))), 'invalid'],
  ];
  for (const [name, bytes, want] of rows) assert.equal(kind(parseClientHello(bytes)), want, name);
});

test('garbage never throws: random bytes and mutated real hellos', () => {
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  const base = hello('openssl_a');
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(base);
    const flips = 1 + Math.floor(rnd() * 4);
    for (let f = 0; f < flips; f++) b[5 + Math.floor(rnd() * (b.length - 5))] = Math.floor(rnd() * 256);
    const cut = b.subarray(0, Math.floor(rnd() * (b.length + 1)));
    const r = parseClientHello(cut);
    assert.ok(['hello', 'invalid', 'need-more'].includes(r.kind));
    const junk = Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
    if (junk.length > 0) junk[0] = 0x16;
    assert.ok(['hello', 'invalid', 'need-more'].includes(parseClientHello(junk).kind));
  }
});
