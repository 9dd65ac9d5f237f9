// A fast, well-mixed, non-cryptographic 32-bit string hash for consistent hashing (ring hash, maglev).
// MurmurHash3 x86_32 over the string's UTF-16LE bytes, two code units per block: 32-bit math with
// Math.imul only, so no BigInt and no allocation per call. Stable across processes and restarts.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** MurmurHash3 x86_32 of `s` encoded as UTF-16LE, with `seed`; an unsigned 32-bit integer. */
export function hash32(s: string, seed = 0): number {
  let h = seed | 0;
  const n = s.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) {
    // Tail: one code unit = two bytes.
    let k = s.charCodeAt(i);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= n * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A second, independent hash (maglev's skip): same function, unrelated seed. */
export const SEED2 = 0x9747b28c;
