// Request authentication, decided: where tokens are read, which rule verifies them, the outcomes
// (pass with or without request.auth, 401 with Envoy's words, a key refresh asked for), and the header
// edits before forwarding. Tokens are signed here with jose; keys are given, never fetched.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, exportJWK, generateKeyPair, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { JwtRule } from '../../../src/config/model';
import { JWT_FAILURES, authenticate, claimText, extractTokens, jwtRulesFor, type KeysFor } from '../../../src/policy/jwt';

const ISS = 'https://issuer.example';
const NOW = 1_800_000_000;

const rule = (over: Partial<JwtRule> = {}): JwtRule => ({ issuer: ISS, audiences: [], jwksUri: 'http://keys/jwks', fromHeaders: [], fromParams: [], forwardOriginalToken: false, outputClaimToHeaders: [], ...over });

function source(headers: Record<string, string>, path = '/'): { header(n: string): string | undefined; path: string } {
  return { header: (n) => headers[n], path };
}

test('extraction: default Authorization Bearer and access_token; custom headers with prefixes and params', () => {
  const cases: [JwtRule[], Record<string, string>, string, string[]][] = [
    [[rule()], { authorization: 'Bearer abc' }, '/', ['abc']],
    [[rule()], { authorization: 'bearer abc' }, '/', ['abc']],
    [[rule()], { authorization: 'Basic abc' }, '/', []],
    [[rule()], {}, '/x?access_token=q1', ['q1']],
    [[rule()], { authorization: 'Bearer abc' }, '/x?access_token=q1', ['abc', 'q1']],
    [[rule({ fromHeaders: [{ name: 'x-jwt', prefix: '' }] })], { authorization: 'Bearer abc', 'x-jwt': 't1' }, '/?access_token=q', ['t1']],
    [[rule({ fromHeaders: [{ name: 'x-jwt', prefix: 'Token ' }] })], { 'x-jwt': 'Token t2' }, '/', ['t2']],
    [[rule({ fromHeaders: [{ name: 'x-jwt', prefix: 'Token ' }] })], { 'x-jwt': 't2' }, '/', []],
    [[rule({ fromParams: ['jwt'] })], { authorization: 'Bearer abc' }, '/?jwt=p1&a=b', ['p1']],
    [[rule(), rule({ issuer: 'other' })], { authorization: 'Bearer abc' }, '/', ['abc']],
  ];
  for (const [rules, headers, path, want] of cases) {
    assert.deepEqual(extractTokens(rules, source(headers, path)).map((t) => t.token), want, `${JSON.stringify(headers)} ${path}`);
  }
});

test('rules for a workload: its namespace and the root namespace, by selector', () => {
  const all = [
    { name: 'a', namespace: 'shop', selector: { app: 'web' }, jwtRules: [rule({ issuer: 'a' })] },
    { name: 'b', namespace: 'shop', selector: undefined, jwtRules: [rule({ issuer: 'b' })] },
    { name: 'c', namespace: 'istio-system', selector: undefined, jwtRules: [rule({ issuer: 'c' })] },
    { name: 'd', namespace: 'other', selector: undefined, jwtRules: [rule({ issuer: 'd' })] },
  ];
  assert.deepEqual(jwtRulesFor({ namespace: 'shop', labels: { app: 'web' } }, all).map((r) => r.issuer), ['a', 'b', 'c']);
  assert.deepEqual(jwtRulesFor({ namespace: 'shop', labels: { app: 'db' } }, all).map((r) => r.issuer), ['b', 'c']);
});

test('claimText: strings, numbers, booleans, lists joined by ",", nested a.b; objects have no header value', () => {
  const p: JWTPayload = { s: 'x', n: 3, b: false, l: ['a', 'b'], o: { t: 'in' }, bad: 'a\nb' };
  assert.deepEqual(['s', 'n', 'b', 'l', 'o.t', 'o', 'missing', 'bad'].map((c) => claimText(p, c)), ['x', '3', 'false', 'a,b', 'in', undefined, undefined, undefined]);
});

let keys: JSONWebKeySet;
let sign: (claims: JWTPayload, opts?: { kid?: string; exp?: number; nbf?: number; key?: 'good' | 'other' }) => Promise<string>;

before(async () => {
  const good = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  keys = { keys: [{ ...(await exportJWK(good.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] };
  sign = async (claims, opts = {}) => {
    let j = new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1' }).setIssuedAt(NOW - 10).setExpirationTime(opts.exp ?? NOW + 600);
    if (opts.nbf !== undefined) j = j.setNotBefore(opts.nbf);
    return j.sign(opts.key === 'other' ? other.privateKey : good.privateKey);
  };
});

test('authenticate: outcomes of valid, expired, forged, foreign, mis-addressed and missing tokens', async () => {
  const base = { iss: ISS, sub: 'alice', aud: 'shop', azp: 'cli' };
  const k: KeysFor = () => keys;
  const cases: [string, JwtRule, () => Promise<Record<string, string>>, string][] = [
    ['valid', rule(), async () => ({ authorization: `Bearer ${await sign(base)}` }), 'pass'],
    ['no token', rule(), async () => ({}), 'pass'],
    ['expired', rule(), async () => ({ authorization: `Bearer ${await sign(base, { exp: NOW - 120 })}` }), JWT_FAILURES.expired],
    ['expired within the clock skew', rule(), async () => ({ authorization: `Bearer ${await sign(base, { exp: NOW - 30 })}` }), 'pass'],
    ['not yet valid', rule(), async () => ({ authorization: `Bearer ${await sign(base, { nbf: NOW + 600 })}` }), JWT_FAILURES.notYetValid],
    ['bad signature', rule(), async () => ({ authorization: `Bearer ${await sign(base, { key: 'other' })}` }), JWT_FAILURES.invalid],
    ['unknown issuer', rule(), async () => ({ authorization: `Bearer ${await sign({ ...base, iss: 'https://evil' })}` }), JWT_FAILURES.issuer],
    ['audience allowed', rule({ audiences: ['web', 'shop'] }), async () => ({ authorization: `Bearer ${await sign(base)}` }), 'pass'],
    ['audience refused', rule({ audiences: ['web'] }), async () => ({ authorization: `Bearer ${await sign(base)}` }), JWT_FAILURES.audience],
    ['not a JWT', rule(), async () => ({ authorization: 'Bearer not-a-jwt' }), JWT_FAILURES.malformed],
  ];
  for (const [name, r, headers, want] of cases) {
    const out = await authenticate([r], source(await headers()), k, NOW, true);
    assert.equal(out.kind === 'pass' ? 'pass' : out.kind === 'deny' ? out.body : out.kind, want, name);
  }
});

test('authenticate: request.auth of a valid token, and the header edits', async () => {
  const token = await sign({ iss: ISS, sub: 'alice', aud: ['shop', 'web'], azp: 'cli', org: { team: 'pay' } });
  const r = rule({ outputPayloadToHeader: 'x-jwt-payload', outputClaimToHeaders: [{ header: 'x-team', claim: 'org.team' }, { header: 'x-none', claim: 'nope' }] });
  const out = await authenticate([r], source({ authorization: `Bearer ${token}` }), () => keys, NOW);
  assert.equal(out.kind, 'pass');
  if (out.kind !== 'pass') return;
  assert.equal(out.auth?.principal, `${ISS}/alice`);
  assert.deepEqual(out.auth?.audiences, ['shop', 'web']);
  assert.equal(out.auth?.presenter, 'cli');
  assert.deepEqual(out.remove, ['authorization']);
  assert.deepEqual(out.set, [['x-jwt-payload', token.split('.')[1]], ['x-team', 'pay']]);
  const kept = await authenticate([rule({ forwardOriginalToken: true })], source({ authorization: `Bearer ${token}` }), () => keys, NOW);
  assert.deepEqual(kept.kind === 'pass' && kept.remove, []);
});

test('authenticate: missing keys or an unknown kid asks for a refresh once, then fails', async () => {
  const token = await sign({ iss: ISS, sub: 'a' }, { kid: 'k2' });
  const none: KeysFor = () => undefined;
  const first = await authenticate([rule()], source({ authorization: `Bearer ${token}` }), none, NOW);
  assert.equal(first.kind, 'refresh');
  const last = await authenticate([rule()], source({ authorization: `Bearer ${token}` }), none, NOW, true);
  assert.deepEqual(last.kind === 'deny' && last.body, JWT_FAILURES.noKeys);
  const unknownKid = await authenticate([rule()], source({ authorization: `Bearer ${token}` }), () => keys, NOW);
  assert.equal(unknownKid.kind, 'refresh');
  // Inline keys cannot be refreshed: the kid is simply not there.
  const inline = await authenticate([rule({ jwksUri: undefined, jwks: JSON.stringify(keys) })], source({ authorization: `Bearer ${token}` }), () => keys, NOW);
  assert.deepEqual(inline.kind === 'deny' && inline.body, JWT_FAILURES.noKey);
});
