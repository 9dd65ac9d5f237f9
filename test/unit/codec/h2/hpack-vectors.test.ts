import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeInt, HpackDecoder, HpackEncoder } from '../../../../src/codec/h2/hpack';

// RFC 7541 Appendix C: every example, decoded and encoded, with the dynamic table after each block.

type Pairs = [string, string][];
interface Step {
  readonly hex: string;
  readonly headers: Pairs;
  /** Dynamic table after the block, newest first, and its size. */
  readonly table: Pairs;
  readonly size: number;
}

const flat = (p: Pairs): string[] => p.flat();

const REQ1: Pairs = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQ2: Pairs = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: Pairs = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const T1: Pairs = [[':authority', 'www.example.com']];
const T2: Pairs = [['cache-control', 'no-cache'], ...T1];
const T3: Pairs = [['custom-key', 'custom-value'], ...T2];

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOC = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RES1: Pairs = [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]];
const RES2: Pairs = [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', LOC]];
const RES3: Pairs = [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', LOC], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]];
const RT1: Pairs = [['location', LOC], ['date', DATE1], ['cache-control', 'private'], [':status', '302']];
const RT2: Pairs = [[':status', '307'], ['location', LOC], ['date', DATE1], ['cache-control', 'private']];
const RT3: Pairs = [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]];

const SEQUENCES: { name: string; huffman: 'never' | 'auto'; tableSize: number; steps: Step[] }[] = [
  {
    name: 'C.3 requests without Huffman',
    huffman: 'never',
    tableSize: 4096,
    steps: [
      { hex: '828684410f7777772e6578616d706c652e636f6d', headers: REQ1, table: T1, size: 57 },
      { hex: '828684be58086e6f2d6361636865', headers: REQ2, table: T2, size: 110 },
      { hex: '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565', headers: REQ3, table: T3, size: 164 },
    ],
  },
  {
    name: 'C.4 requests with Huffman',
    huffman: 'auto',
    tableSize: 4096,
    steps: [
      { hex: '828684418cf1e3c2e5f23a6ba0ab90f4ff', headers: REQ1, table: T1, size: 57 },
      { hex: '828684be5886a8eb10649cbf', headers: REQ2, table: T2, size: 110 },
      { hex: '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf', headers: REQ3, table: T3, size: 164 },
    ],
  },
  {
    name: 'C.5 responses without Huffman (table 256)',
    huffman: 'never',
    tableSize: 256,
    steps: [
      {
        hex: '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
        headers: RES1,
        table: RT1,
        size: 222,
      },
      { hex: '4803333037c1c0bf', headers: RES2, table: RT2, size: 222 },
      {
        hex: '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
        headers: RES3,
        table: RT3,
        size: 215,
      },
    ],
  },
  {
    name: 'C.6 responses with Huffman (table 256)',
    huffman: 'auto',
    tableSize: 256,
    steps: [
      {
        hex: '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
        headers: RES1,
        table: RT1,
        size: 222,
      },
      { hex: '4883640effc1c0bf', headers: RES2, table: RT2, size: 222 },
      {
        hex: '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
        headers: RES3,
        table: RT3,
        size: 215,
      },
    ],
  },
];

test('C.1 integer representation examples', () => {
  const cases: [number, number, string][] = [
    [10, 5, '0a'],
    [1337, 5, '1f9a0a'],
    [42, 8, '2a'],
  ];
  for (const [value, prefix, hex] of cases) {
    const out = Buffer.alloc(8);
    const end = encodeInt(out, 0, value, prefix, 0);
    assert.equal(out.subarray(0, end).toString('hex'), hex, `${value} with a ${prefix}-bit prefix`);
  }
  // And back: 1337 as a dynamic table size update (5-bit prefix under the 001 pattern).
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(Buffer.from('3f9a0a', 'hex'))?.headers, []);
  assert.equal(d.table.maxSize, 1337);
});

test('C.2 header field representation examples', () => {
  const cases: { name: string; hex: string; headers: Pairs; table: Pairs; size: number; sensitive?: number[] }[] = [
    { name: 'C.2.1 literal with indexing', hex: '400a637573746f6d2d6b65790d637573746f6d2d686561646572', headers: [['custom-key', 'custom-header']], table: [['custom-key', 'custom-header']], size: 55 },
    { name: 'C.2.2 literal without indexing', hex: '040c2f73616d706c652f70617468', headers: [[':path', '/sample/path']], table: [], size: 0 },
    { name: 'C.2.3 literal never indexed', hex: '100870617373776f726406736563726574', headers: [['password', 'secret']], table: [], size: 0, sensitive: [0] },
    { name: 'C.2.4 indexed field', hex: '82', headers: [[':method', 'GET']], table: [], size: 0 },
  ];
  for (const c of cases) {
    const d = new HpackDecoder();
    const r = d.decode(Buffer.from(c.hex, 'hex'));
    assert.ok(r, `${c.name}: ${d.error}`);
    assert.deepEqual(r.headers, flat(c.headers), c.name);
    assert.deepEqual(r.sensitive, c.sensitive, c.name);
    assert.deepEqual(d.table.entries(), c.table, c.name);
    assert.equal(d.table.size, c.size, c.name);
  }
  const e = new HpackEncoder({ huffman: 'never', indexing: 'all' });
  assert.equal(e.encode(['custom-key', 'custom-header']).toString('hex'), cases[0]!.hex);
  assert.equal(new HpackEncoder({ huffman: 'never' }).encode(['password', 'secret'], [0]).toString('hex'), cases[2]!.hex);
  assert.equal(new HpackEncoder().encode([':method', 'GET']).toString('hex'), '82');
});

for (const seq of SEQUENCES) {
  test(`${seq.name}: decoding, with the dynamic table after each block`, () => {
    const d = new HpackDecoder({ maxTableSize: seq.tableSize });
    d.table.resize(seq.tableSize);
    for (const [i, step] of seq.steps.entries()) {
      const r = d.decode(Buffer.from(step.hex, 'hex'));
      assert.ok(r, `block ${i + 1}: ${d.error}`);
      assert.deepEqual(r.headers, flat(step.headers), `block ${i + 1} headers`);
      assert.deepEqual(d.table.entries(), step.table, `block ${i + 1} table`);
      assert.equal(d.table.size, step.size, `block ${i + 1} table size`);
    }
  });

  test(`${seq.name}: encoding gives the RFC's bytes and table`, () => {
    const e = new HpackEncoder({ huffman: seq.huffman, indexing: 'all', peerTableSize: seq.tableSize });
    for (const [i, step] of seq.steps.entries()) {
      assert.equal(e.encode(flat(step.headers)).toString('hex'), step.hex, `block ${i + 1}`);
      assert.deepEqual(e.table.entries(), step.table, `block ${i + 1} table`);
      assert.equal(e.table.size, step.size, `block ${i + 1} table size`);
    }
  });

  test(`${seq.name}: a block inside a larger buffer decodes alike`, () => {
    // Blocks are decoded whole (the frame reader joins CONTINUATIONs), often as views into a read.
    const d = new HpackDecoder({ maxTableSize: seq.tableSize });
    d.table.resize(seq.tableSize);
    for (const step of seq.steps) {
      const bytes = Buffer.from(step.hex, 'hex');
      const padded = Buffer.concat([Buffer.from([0xff, 0xff, 0xff]), bytes, Buffer.from([0xee])]);
      const r = d.decode(padded, 3, 3 + bytes.length);
      assert.deepEqual(r?.headers, flat(step.headers));
    }
  });
}
