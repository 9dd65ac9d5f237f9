// Which JWKS keys can verify tokens (named with why when not), and which keys a token's alg and kid
// select, as Envoy's jwt_authn has them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { JSONWebKeySet, JWK } from 'jose';
import { candidateKeys, describeKeys, jwkProblem, unusableKeys } from '../../../src/identity/jwks-keys';

const pub = (type: 'rsa' | 'ec' | 'ed25519' | 'ed448', o: Record<string, unknown> = {}): JWK =>
  generateKeyPairSync(type as 'rsa', o as { modulusLength: number }).publicKey.export({ format: 'jwk' }) as JWK;
const RSA = pub('rsa', { modulusLength: 2048 });
const RSA_1024 = pub('rsa', { modulusLength: 1024 });
const P256 = pub('ec', { namedCurve: 'P-256' });
const P384 = pub('ec', { namedCurve: 'P-384' });
const K256 = pub('ec', { namedCurve: 'secp256k1' });
const ED = pub('ed25519');
const ED448 = pub('ed448');
/** A secret of N bytes, base64url as in "k". */
const secret = (n: number, fill = 's'): string => Buffer.alloc(n, fill).toString('base64url');
const OCT = { kty: 'oct', k: secret(64) };

test('jwkProblem: usable keys of every type, and each way a key cannot verify tokens', () => {
  const cases: [string, unknown, RegExp | undefined][] = [
    ['RSA', RSA, undefined],
    ['RSA for PS256', { ...RSA, alg: 'PS256', use: 'sig', key_ops: ['verify'] }, undefined],
    ['EC P-256', { ...P256, alg: 'ES256' }, undefined],
    ['EC P-384 without alg', P384, undefined],
    ['OKP Ed25519', { ...ED, alg: 'EdDSA' }, undefined],
    ['oct HS256', { ...OCT, alg: 'HS256', kid: 'k1' }, undefined],
    ['oct without alg', OCT, undefined],
    ['not an object', 'key', /is not a JSON Web Key/],
    ['no kty', { k: 'c2VjcmV0' }, /has no "kty"/],
    ['unknown kty', { kty: 'DSA' }, /kty "DSA", which cannot verify tokens \(use RSA, EC, OKP or oct\)/],
    ['encryption key', { ...OCT, use: 'enc' }, /use "enc": only signature keys \("sig"\)/],
    ['key_ops without verify', { ...OCT, key_ops: ['sign'] }, /key_ops without "verify"/],
    ['oct with an RSA alg', { ...OCT, alg: 'RS256' }, /alg "RS256", which a kty "oct" key cannot verify \(it verifies HS256, HS384, HS512\)/],
    ['RSA with an HMAC alg', { ...RSA, alg: 'HS256' }, /alg "HS256", which a kty "RSA" key cannot verify/],
    ['alg none', { ...OCT, alg: 'none' }, /alg "none"/],
    ['oct without k', { kty: 'oct', alg: 'HS256' }, /kty "oct" key without its secret: set "k"/],
    ['oct with k empty', { kty: 'oct', k: '' }, /without its secret: set "k"/],
    ['oct with k not base64url', { kty: 'oct', k: 'not base64!!' }, /^has a "k" that is not base64url: write the secret base64url-encoded/],
    ['oct with k base64 padded', { kty: 'oct', k: 'c2Vj+cmV0=' }, /"k" that is not base64url/],
    ['oct with an empty secret', { kty: 'oct', k: 'A' }, /empty secret/],
    // RFC 7518 §3.2: an HMAC key is at least the hash size.
    ['oct of one byte', { kty: 'oct', k: 'AA' }, /^has a secret of 1 byte in "k": HS256 needs at least 32 \(HS384 48, HS512 64\), the hash size \(RFC 7518 §3\.2\); use a longer secret$/],
    ['oct of 31 bytes, no alg', { kty: 'oct', k: secret(31) }, /secret of 31 bytes in "k": HS256 needs at least 32/],
    ['oct of 32 bytes, no alg', { kty: 'oct', k: secret(32) }, undefined],
    ['oct of 32 bytes for HS256', { kty: 'oct', k: secret(32), alg: 'HS256' }, undefined],
    ['oct of 47 bytes for HS384', { kty: 'oct', k: secret(47), alg: 'HS384' }, /secret of 47 bytes in "k": HS384 needs at least 48,/],
    ['oct of 48 bytes for HS384', { kty: 'oct', k: secret(48), alg: 'HS384' }, undefined],
    ['oct of 63 bytes for HS512', { kty: 'oct', k: secret(63), alg: 'HS512' }, /secret of 63 bytes in "k": HS512 needs at least 64,/],
    ['oct of 64 bytes for HS512', { kty: 'oct', k: secret(64), alg: 'HS512' }, undefined],
    ['EC curve not the alg\'s', { ...P384, alg: 'ES256' }, /alg ES256 but crv "P-384" \(ES256 needs P-256\)/],
    ['EC secp256k1', K256, /crv "secp256k1": EC keys verify on P-256, P-384 or P-521/],
    ['OKP Ed448', ED448, /crv "Ed448": OKP keys verify EdDSA on Ed25519/],
    ['RSA too short', RSA_1024, /RSA key of 1024 bits: RSA keys need at least 2048/],
    ['EC material that does not parse', { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }, /is not a valid EC public key/],
    ['RSA without n', { kty: 'RSA', e: 'AQAB' }, /is not a valid RSA public key/],
  ];
  for (const [name, key, want] of cases) {
    const got = jwkProblem(key);
    if (want === undefined) assert.equal(got, undefined, name);
    else assert.match(got ?? '(usable)', want, name);
  }
});

test('unusableKeys names each key by position and kid', () => {
  assert.deepEqual(unusableKeys([OCT, { kty: 'oct', kid: 'h2' }, { kty: 'X' }]), [
    { key: 'keys[1] (kid "h2")', problem: 'is a kty "oct" key without its secret: set "k" to the secret, base64url-encoded' },
    { key: 'keys[2]', problem: 'has kty "X", which cannot verify tokens (use RSA, EC, OKP or oct)' },
  ]);
});

test('candidateKeys: kid, alg and key type select the keys to try, in order', () => {
  const set: JSONWebKeySet = {
    keys: [
      { ...OCT, kid: 'h1', alg: 'HS256' },
      { ...OCT, kid: 'h2' },
      { kty: 'oct', k: secret(64, 'o') },
      { kty: 'oct', kid: 'short', k: secret(40) }, // no alg: long enough for HS256 only
      { ...RSA, kid: 'r1', alg: 'RS256' },
      { ...RSA, kid: 'r2' },
      { ...P256, kid: 'e1' },
      { ...P384, kid: 'e2' },
      { ...ED, kid: 'd1' },
      { kty: 'oct', kid: 'bad' },
    ],
  };
  const ids = (alg: string, kid?: string): string[] => candidateKeys(set, alg, kid).map((k) => k.kid ?? 'no-kid');
  const cases: [string, string | undefined, string[]][] = [
    ['HS256', 'h1', ['h1', 'no-kid']], // a key without kid is tried for any kid
    ['HS256', undefined, ['h1', 'h2', 'no-kid', 'short']],
    ['HS384', undefined, ['h2', 'no-kid']], // h1 is for HS256 only, short too short
    ['HS384', 'h1', ['no-kid']],
    ['HS512', 'h9', ['no-kid']],
    ['RS256', undefined, ['r1', 'r2']],
    ['PS384', undefined, ['r2']],
    ['RS256', 'h1', []], // the kid names an oct key
    ['ES256', undefined, ['e1']],
    ['ES384', undefined, ['e2']],
    ['ES512', undefined, []],
    ['EdDSA', 'd1', ['d1']],
    ['HS256', 'bad', ['no-kid']], // the unusable key is never tried
    ['HS256', 'short', ['no-kid', 'short']],
    ['HS384', 'short', ['no-kid']], // its 40 bytes are below HS384's 48
    ['HS512', 'short', ['no-kid']],
  ];
  for (const [alg, kid, want] of cases) assert.deepEqual(ids(alg, kid), want, `${alg} kid ${kid ?? '-'}`);
});

test('describeKeys: kid or position, type and alg, unusable ones marked', () => {
  assert.equal(describeKeys({ keys: [{ ...OCT, kid: 'k1', alg: 'HS256' }, { kty: 'oct' }] }), 'kid "k1" (oct, HS256), keys[1] (oct, unusable)');
  assert.equal(describeKeys({ keys: [] }), 'the set has no keys');
});
