// Request authentication with symmetric keys (kty "oct", HS256/384/512) as Envoy's jwt_authn verifies
// them, key selection by kid and alg for every key type, and the cause each refusal names for the log
// beside Envoy's words for the 401 body.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, exportJWK, generateKeyPair, type JSONWebKeySet, type JWK, type CryptoKey } from 'jose';
import type { JwtRule } from '../../../src/config/model';
import { JWT_FAILURES, authenticate, inlineKeys, verify } from '../../../src/policy/jwt';

const ISS = 'https://issuer.example.com';
const NOW = 1_800_000_000;
// HS512 needs a secret of at least 64 bytes (RFC 7518 §3.2).
const SECRET = new TextEncoder().encode('secret'.repeat(11));
const OTHER = new TextEncoder().encode('another secret'.repeat(5));
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

const rule = (keys: JSONWebKeySet, over: Partial<JwtRule> = {}): JwtRule => ({
  issuer: ISS,
  audiences: [],
  jwks: JSON.stringify(keys),
  fromHeaders: [],
  fromParams: [],
  forwardOriginalToken: false,
  outputClaimToHeaders: [],
  ...over,
});

type Header = { alg: string; kid?: string };
const sign = (header: Header, key: Uint8Array | CryptoKey, claims: Record<string, unknown> = {}): Promise<string> =>
  new SignJWT({ sub: 'alice', ...claims }).setProtectedHeader(header).setIssuer(ISS).setIssuedAt(NOW - 10).setExpirationTime(typeof claims['exp'] === 'number' ? claims['exp'] : NOW + 600).sign(key);

/** Envoy's 401 body for TOKEN under RULE's inline keys, or 'pass'; and the cause of a refusal. */
async function outcome(r: JwtRule, token: string): Promise<{ body: string; cause?: string }> {
  const out = await authenticate([r], { header: (n) => (n === 'authorization' ? `Bearer ${token}` : undefined), path: '/' }, inlineKeys, NOW, true);
  return out.kind === 'deny' ? { body: out.body, cause: out.cause } : { body: out.kind };
}

const OCT = (kid: string | undefined, secret: Uint8Array, alg?: string): JWK => ({ kty: 'oct', k: b64(secret), ...(kid !== undefined ? { kid } : {}), ...(alg !== undefined ? { alg } : {}) });

let rsa: { privateKey: CryptoKey; jwk: JWK };

before(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  rsa = { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid: 'r1', alg: 'RS256' } };
});

test('HS256/384/512 tokens verify against oct keys; a wrong secret or a mismatched alg does not', async () => {
  const cases: [string, JSONWebKeySet, Header, Uint8Array, string, RegExp?][] = [
    ['HS256 (the reported set)', { keys: [OCT('k1', SECRET, 'HS256')] }, { alg: 'HS256', kid: 'k1' }, SECRET, 'pass'],
    ['HS384', { keys: [OCT('k1', SECRET, 'HS384')] }, { alg: 'HS384', kid: 'k1' }, SECRET, 'pass'],
    ['HS512', { keys: [OCT('k1', SECRET, 'HS512')] }, { alg: 'HS512', kid: 'k1' }, SECRET, 'pass'],
    ['key without alg takes any HS alg', { keys: [OCT('k1', SECRET)] }, { alg: 'HS512', kid: 'k1' }, SECRET, 'pass'],
    ['token without kid', { keys: [OCT('k1', SECRET, 'HS256')] }, { alg: 'HS256' }, SECRET, 'pass'],
    ['wrong secret', { keys: [OCT('k1', SECRET, 'HS256')] }, { alg: 'HS256', kid: 'k1' }, OTHER, JWT_FAILURES.invalid, /^the HS256 signature does not verify with kid "k1" \(oct\)$/],
    ['alg mismatch: HS384 token, HS256 key', { keys: [OCT('k1', SECRET, 'HS256')] }, { alg: 'HS384', kid: 'k1' }, SECRET, JWT_FAILURES.noKey, /^no key verifies HS384 with kid "k1"; the JWKS has kid "k1" \(oct, HS256\)$/],
    // A key without alg serves only the HS algorithms its secret is long enough for (RFC 7518 §3.2).
    ['40-byte key without alg, HS256', { keys: [OCT('k1', SECRET.slice(0, 40))] }, { alg: 'HS256', kid: 'k1' }, SECRET.slice(0, 40), 'pass'],
    ['40-byte key without alg, HS512', { keys: [OCT('k1', SECRET.slice(0, 40))] }, { alg: 'HS512', kid: 'k1' }, SECRET.slice(0, 40), JWT_FAILURES.noKey, /^no key verifies HS512 with kid "k1"; the JWKS has kid "k1" \(oct\)$/],
    ['HS token, only RSA keys', { keys: [{ kty: 'RSA', n: 'x', e: 'AQAB', kid: 'k1' }] }, { alg: 'HS256', kid: 'k1' }, SECRET, JWT_FAILURES.noKey, /no key verifies HS256/],
  ];
  for (const [name, keys, header, secret, want, cause] of cases) {
    const got = await outcome(rule(keys), await sign(header, secret));
    assert.equal(got.body, want, name);
    if (cause !== undefined) assert.match(got.cause ?? '', cause, name);
  }
});

test('kid selection: the kid names the key; a key without kid is tried for any; without kid every key is tried', async () => {
  const keys: JSONWebKeySet = { keys: [OCT('k1', SECRET), OCT('k2', OTHER)] };
  const cases: [string, JSONWebKeySet, Header, Uint8Array, string][] = [
    ['kid k2, its secret', keys, { alg: 'HS256', kid: 'k2' }, OTHER, 'pass'],
    ['kid k1, the secret of k2', keys, { alg: 'HS256', kid: 'k1' }, OTHER, JWT_FAILURES.invalid],
    ['no kid, the secret of the second key', keys, { alg: 'HS256' }, OTHER, 'pass'],
    ['unknown kid', keys, { alg: 'HS256', kid: 'k9' }, SECRET, JWT_FAILURES.noKey],
    ['unknown kid, a key without kid', { keys: [OCT('k1', OTHER), OCT(undefined, SECRET)] }, { alg: 'HS256', kid: 'k9' }, SECRET, 'pass'],
  ];
  for (const [name, set, header, secret, want] of cases) assert.equal((await outcome(rule(set), await sign(header, secret))).body, want, name);
});

test('asymmetric keys as before: RS256 beside an oct key, the private part of a published key ignored', async () => {
  const token = await sign({ alg: 'RS256', kid: 'r1' }, rsa.privateKey);
  assert.equal((await outcome(rule({ keys: [OCT('k1', SECRET), rsa.jwk] }), token)).body, 'pass');
  const withPrivate: JWK = { ...(await exportJWK(rsa.privateKey)), kid: 'r1', alg: 'RS256' };
  assert.equal((await outcome(rule({ keys: [withPrivate] }), token)).body, 'pass');
  // An HS256 token whose "secret" is the RSA key's public modulus never verifies (no algorithm confusion).
  const confused = await sign({ alg: 'HS256', kid: 'r1' }, new TextEncoder().encode(rsa.jwk.n!));
  assert.equal((await outcome(rule({ keys: [rsa.jwk] }), confused)).body, JWT_FAILURES.noKey);
});

test('refusals name their cause: unsupported alg, claims, issuer, undecodable tokens', async () => {
  const keys: JSONWebKeySet = { keys: [OCT('k1', SECRET)] };
  const none = `${b64(new TextEncoder().encode('{"alg":"none"}'))}.${b64(new TextEncoder().encode(JSON.stringify({ iss: ISS })))}.`;
  const cases: [string, JwtRule, () => Promise<string>, string, RegExp][] = [
    ['alg none', rule(keys), async () => none, JWT_FAILURES.invalid, /^the token's alg "none" is not supported \(RS256, .*HS512\)$/],
    ['expired', rule(keys), () => sign({ alg: 'HS256' }, SECRET, { exp: NOW - 120 }), JWT_FAILURES.expired, /"exp" claim timestamp check failed \(signed with kid "k1" \(oct\)\)/],
    ['audience', rule(keys, { audiences: ['web'] }), () => sign({ alg: 'HS256' }, SECRET), JWT_FAILURES.audience, /^missing required "aud" claim \(signed with kid "k1" \(oct\)\)$/],
    ['issuer', rule(keys, { issuer: 'https://other' }), () => sign({ alg: 'HS256' }, SECRET), JWT_FAILURES.issuer, /^no jwtRule has issuer "https:\/\/issuer.example.com" for a token in header authorization$/],
    ['not a JWT', rule(keys), async () => 'abc', JWT_FAILURES.malformed, /^the token cannot be decoded/],
    ['no keys fetched', rule(keys, { jwks: undefined, jwksUri: 'http://keys/jwks' }), () => sign({ alg: 'HS256' }, SECRET), JWT_FAILURES.noKeys, /^no keys fetched from http:\/\/keys\/jwks yet$/],
  ];
  for (const [name, r, token, body, cause] of cases) {
    const got = await outcome(r, await token());
    assert.equal(got.body, body, name);
    assert.match(got.cause ?? '', cause, name);
  }
});

test('verify: a key imported once serves many tokens; the payload is the token\'s', async () => {
  const keys: JSONWebKeySet = { keys: [OCT('k1', SECRET, 'HS256')] };
  for (let i = 0; i < 3; i++) {
    const v = await verify(await sign({ alg: 'HS256', kid: 'k1' }, SECRET, { n: i }), rule(keys), keys, NOW);
    assert.ok(v.ok);
    assert.equal(v.ok && v.payload['n'], i);
  }
});
