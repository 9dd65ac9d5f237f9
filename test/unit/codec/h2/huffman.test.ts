import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CODE_LENGTHS, CODES, EOS, huffmanDecode, huffmanEncode, huffmanLength } from '../../../../src/codec/h2/huffman';
import { HpackDecoder } from '../../../../src/codec/h2/hpack';

const enc = (s: string): Buffer => {
  const out = Buffer.alloc(huffmanLength(s));
  assert.equal(huffmanEncode(s, out, 0), out.length);
  return out;
};

test('the code is complete: Kraft sum exactly 1 over 257 symbols', () => {
  assert.equal(CODE_LENGTHS.length, 257);
  let sum = 0;
  for (const len of CODE_LENGTHS) sum += 2 ** (30 - len);
  assert.equal(sum, 2 ** 30);
});

test('codes rebuilt from the lengths match RFC 7541 Appendix B', () => {
  // [symbol, code as printed in Appendix B (hex, right-aligned), length]: every length class, both ends.
  const table: [number, number, number][] = [
    [0, 0x1ff8, 13], [1, 0x7fffd8, 23], [2, 0xfffffe2, 28], [9, 0xffffea, 24], [10, 0x3ffffffc, 30],
    [13, 0x3ffffffd, 30], [22, 0x3ffffffe, 30], [31, 0xffffffb, 28], [32, 0x14, 6], [33, 0x3f8, 10],
    [35, 0xffa, 12], [36, 0x1ff9, 13], [38, 0xf8, 8], [39, 0x7fa, 11], [48, 0x0, 5], [50, 0x2, 5],
    [51, 0x19, 6], [58, 0x5c, 7], [60, 0x7ffc, 15], [62, 0xffb, 12], [63, 0x3fc, 10], [64, 0x1ffa, 13],
    [65, 0x21, 6], [87, 0x72, 7], [88, 0xfc, 8], [90, 0xfd, 8], [92, 0x7fff0, 19], [94, 0x3ffc, 14],
    [96, 0x7ffd, 15], [97, 0x3, 5], [116, 0x9, 5], [122, 0x7b, 7], [123, 0x7ffe, 15], [124, 0x7fc, 11],
    [125, 0x3ffd, 14], [126, 0x1ffd, 13], [127, 0xffffffc, 28], [128, 0xfffe6, 20], [129, 0x3fffd2, 22],
    [135, 0x7fffd9, 23], [142, 0xffffeb, 24], [153, 0x1fffdc, 21], [192, 0x3ffffe0, 26], [195, 0x7fff1, 19],
    [199, 0x1ffffec, 25], [203, 0x7ffffde, 27], [208, 0x7fff2, 19], [220, 0xffffffd, 28], [224, 0xfffec, 20],
    [239, 0x7ffff4, 23], [249, 0xffffffe, 28], [254, 0x7fffff0, 27], [255, 0x3ffffee, 26], [EOS, 0x3fffffff, 30],
  ];
  for (const [sym, code, len] of table) {
    assert.equal(CODE_LENGTHS[sym], len, `length of ${sym}`);
    assert.equal(CODES[sym], code, `code of ${sym}`);
  }
});

test('RFC 7541 C.4 / C.6 strings encode and decode', () => {
  const cases: [string, string][] = [
    ['www.example.com', 'f1e3c2e5f23a6ba0ab90f4ff'],
    ['no-cache', 'a8eb10649cbf'],
    ['custom-key', '25a849e95ba97d7f'],
    ['custom-value', '25a849e95bb8e8b4bf'],
    ['302', '6402'],
    ['private', 'aec3771a4b'],
    ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07abe941054d444a8200595040b8166e082a62d1bff'],
    ['https://www.example.com', '9d29ad171863c78f0b97c8e9ae82ae43d3'],
    ['307', '640eff'],
    ['gzip', '9bd9ab'],
    ['foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1', '94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007'],
  ];
  for (const [text, hex] of cases) {
    assert.equal(enc(text).toString('hex'), hex, text);
    const bytes = Buffer.from(hex, 'hex');
    assert.equal(huffmanDecode(bytes, 0, bytes.length), text, hex);
  }
});

test('round trip of every byte value, alone, in pairs and in random strings', () => {
  for (let b = 0; b < 256; b++) {
    const s = String.fromCharCode(b);
    const e = enc(s);
    assert.equal(huffmanDecode(e, 0, e.length), s, `byte ${b}`);
    const pair = String.fromCharCode(b, 255 - b, b);
    const p = enc(pair);
    assert.equal(huffmanDecode(p, 0, p.length), pair, `bytes ${b},${255 - b}`);
  }
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 2000; i++) {
    const len = rand() % 80;
    let s = '';
    for (let k = 0; k < len; k++) s += String.fromCharCode(i % 2 ? rand() % 256 : 32 + (rand() % 95));
    const e = enc(s);
    assert.equal(huffmanDecode(e, 0, e.length), s);
  }
  assert.equal(huffmanDecode(Buffer.alloc(0), 0, 0), '');
});

test('invalid codings are rejected (RFC 7541 §5.2; h2spec hpack/5.2)', () => {
  const bad: [string, string][] = [
    ['ffffffff', 'EOS in the data (30 one-bits) plus padding'],
    ['fffffffc', 'EOS symbol (30 ones) followed by two zero bits'],
    ['ff', 'padding of 8 bits'],
    ['1fff', "'a' then 11 one-bits: padding longer than 7"],
    ['00', "'0' then 3 zero-bits: padding not from EOS"],
    ['f800', 'padding of zeros'],
  ];
  for (const [hex, why] of bad) {
    const b = Buffer.from(hex, 'hex');
    assert.equal(huffmanDecode(b, 0, b.length), undefined, why);
  }
  // Through the decoder: a literal whose Huffman value is invalid is a decoding error.
  const d = new HpackDecoder();
  assert.equal(d.decode(Buffer.from('0001618180', 'hex')), undefined); // value: Huffman 0x80, '=' then zero padding
  assert.match(d.error, /Huffman/);
});
