import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hash32, SEED2 } from '../../../src/balance/hash';

/** Byte-wise MurmurHash3 x86_32, written from the reference algorithm, to check the fast one. */
function murmur3Bytes(b: Uint8Array, seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed | 0;
  const blocks = b.length >> 2;
  for (let i = 0; i < blocks; i++) {
    let k = b[4 * i]! | (b[4 * i + 1]! << 8) | (b[4 * i + 2]! << 16) | (b[4 * i + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const t = blocks * 4;
  const rest = b.length & 3;
  if (rest > 0) {
    let k = 0;
    if (rest >= 3) k ^= b[t + 2]! << 16;
    if (rest >= 2) k ^= b[t + 1]! << 8;
    k ^= b[t]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= b.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// Published MurmurHash3 x86_32 vectors, to trust the reference.
const VECTORS: { input: string; seed: number; want: number }[] = [
  { input: '', seed: 0, want: 0 },
  { input: '', seed: 1, want: 0x514e28b7 },
  { input: '', seed: 0xffffffff, want: 0x81f16f39 },
  { input: 'The quick brown fox jumps over the lazy dog', seed: 0, want: 0x2e4ff723 },
  { input: 'Hello, world!', seed: 1234, want: 0xfaf6cdb3 },
];

for (const v of VECTORS) {
  test(`murmur3 reference: ${JSON.stringify(v.input)} seed ${v.seed}`, () => {
    assert.equal(murmur3Bytes(Buffer.from(v.input, 'latin1'), v.seed), v.want);
  });
}

test('hash32 is MurmurHash3 x86_32 of the UTF-16LE bytes', () => {
  for (const s of ['', 'a', 'ab', 'abc', '10.0.0.1:8080_17', 'user-42', 'é✓ 漢字', '\u{1f600}x']) {
    for (const seed of [0, SEED2]) assert.equal(hash32(s, seed), murmur3Bytes(Buffer.from(s, 'utf16le'), seed), `${s} ${seed}`);
  }
});

test('hash32: unsigned 32-bit, seeds independent', () => {
  const h = hash32('10.0.0.1:80');
  assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32);
  assert.notEqual(hash32('10.0.0.1:80', SEED2), h);
});
