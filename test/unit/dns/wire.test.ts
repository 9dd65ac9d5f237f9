// The DNS wire codec: real queries (captured from Node's resolver, c-ares), a dig-style query with an
// EDNS OPT record, answers built and read back, and malformed packets refused without an exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RCODE_NOERROR, RCODE_SERVFAIL, TYPE_A, TYPE_AAAA, buildAnswer, buildError, buildQuery, parseAnswerA, parseQuery } from '../../../src/dns/wire';

/** resolve4('Web.Default.svc.cluster.local') as Node's resolver sent it. */
const NODE_A = Buffer.from('965b01000001000000000000037765620764656661756c740373766307636c7573746572056c6f63616c0000010001', 'hex');
/** resolve6('db.example.com') as Node's resolver sent it. */
const NODE_AAAA = Buffer.from('99eb01000001000000000000026462076578616d706c6503636f6d00001c0001', 'hex');
/** dig's layout: RD and AD set, one question, an EDNS OPT record (UDP size 1232, a cookie) in additional. */
const DIG_A = Buffer.from('b2e40120000100000000000107457861' + '6d706c6503636f6d0000010001' + '00002904d0000000000c000a0008' + '0123456789abcdef', 'hex');

test('queries as real clients send them', () => {
  const cases: [string, Buffer, { id: number; name: string; type: number; rd: boolean }][] = [
    ['node resolve4', NODE_A, { id: 0x965b, name: 'web.default.svc.cluster.local', type: TYPE_A, rd: true }],
    ['node resolve6', NODE_AAAA, { id: 0x99eb, name: 'db.example.com', type: TYPE_AAAA, rd: true }],
    ['dig with EDNS', DIG_A, { id: 0xb2e4, name: 'example.com', type: TYPE_A, rd: true }],
  ];
  for (const [what, pkt, want] of cases) {
    const q = parseQuery(pkt);
    assert.ok(q, what);
    assert.deepEqual({ id: q.id, name: q.question.name, type: q.question.type, rd: q.rd }, want, what);
    assert.equal(q.question.class, 1, what);
  }
});

test('an answer echoes id and question (case kept) and carries the A records', () => {
  const q = parseQuery(DIG_A)!;
  const a = buildAnswer(q, { rcode: RCODE_NOERROR, addresses: ['240.240.1.2', '10.0.0.7'], ttl: 30 });
  assert.equal(a.readUInt16BE(0), 0xb2e4);
  // QR, AA, RD, RA; NOERROR.
  assert.equal(a.readUInt16BE(2), 0x8580);
  assert.equal(a.subarray(12, 12 + q.questionBytes.length).toString('hex'), DIG_A.subarray(12, 29).toString('hex'));
  assert.deepEqual(parseAnswerA(a), { id: 0xb2e4, rcode: 0, addresses: ['240.240.1.2', '10.0.0.7'] });
  // TTL of the first record.
  assert.equal(a.readUInt32BE(12 + q.questionBytes.length + 6), 30);
});

test('an AAAA question for a mesh host gets NOERROR and no records', () => {
  const q = parseQuery(NODE_AAAA)!;
  const a = buildAnswer(q, { rcode: RCODE_NOERROR, addresses: ['10.0.0.7'], ttl: 30 });
  assert.deepEqual(parseAnswerA(a), { id: 0x99eb, rcode: 0, addresses: [] });
  assert.equal(a.readUInt16BE(6), 0);
});

test('buildQuery writes what parseQuery reads', () => {
  const q = parseQuery(buildQuery(7, 'api.example.com', TYPE_A));
  assert.deepEqual(q && { id: q.id, name: q.question.name, type: q.question.type }, { id: 7, name: 'api.example.com', type: TYPE_A });
});

test('malformed packets are refused, never thrown on', () => {
  const mutate = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(NODE_A);
    f(b);
    return b;
  };
  const cases: [string, Uint8Array][] = [
    ['empty', Buffer.alloc(0)],
    ['short header', NODE_A.subarray(0, 11)],
    ['header only', NODE_A.subarray(0, 12)],
    ['truncated name', NODE_A.subarray(0, 20)],
    ['no type and class', NODE_A.subarray(0, NODE_A.length - 3)],
    ['a response', mutate((b) => b.writeUInt16BE(0x8180, 2))],
    ['opcode STATUS', mutate((b) => b.writeUInt16BE(0x1100, 2))],
    ['two questions', mutate((b) => b.writeUInt16BE(2, 4))],
    ['no question', mutate((b) => b.writeUInt16BE(0, 4))],
    ['an answer record', mutate((b) => b.writeUInt16BE(1, 6))],
    ['compression pointer', mutate((b) => (b[12] = 0xc0))],
    ['label over 63', mutate((b) => (b[12] = 64))],
    ['label past the end', mutate((b) => (b[12] = 63))],
    ['control byte in a label', mutate((b) => (b[13] = 0x01))],
    ['dot in a label', mutate((b) => (b[13] = 0x2e))],
    ['name over 255', Buffer.concat([NODE_A.subarray(0, 12), Buffer.alloc(300, 0).fill(Buffer.from([1, 0x61])), Buffer.from([0, 0, 1, 0, 1])])],
  ];
  for (const [what, pkt] of cases) assert.equal(parseQuery(pkt), undefined, what);
  // Random bytes: never an exception.
  let seed = 42;
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.alloc((seed = (seed * 1103515245 + 12345) >>> 0) % 80);
    for (let j = 0; j < b.length; j++) b[j] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    parseQuery(b);
    parseAnswerA(b);
  }
});

test('an error answer keeps id and RD; none for a response or a short packet', () => {
  const e = buildError(NODE_A, RCODE_SERVFAIL)!;
  assert.equal(e.readUInt16BE(0), 0x965b);
  assert.equal(e.readUInt16BE(2), 0x8182);
  assert.equal(buildError(NODE_A.subarray(0, 5), RCODE_SERVFAIL), undefined);
  assert.equal(buildError(buildAnswer(parseQuery(NODE_A)!, { rcode: 0, addresses: [], ttl: 1 }), RCODE_SERVFAIL), undefined);
});
