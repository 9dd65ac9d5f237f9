// A jwtRule without an issuer (Istio allows one with a jwksUri): it takes a token of any issuer that its
// keys verify, after the rules that name the token's issuer.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, exportJWK, generateKeyPair, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { JwtRule } from '../../../src/config/model';
import { JWT_FAILURES, authenticate, type KeysFor } from '../../../src/policy/jwt';

const NOW = 1_800_000_000;
const rule = (over: Partial<JwtRule> = {}): JwtRule => ({ issuer: '', audiences: [], jwksUri: 'http://keys/any', fromHeaders: [], fromParams: [], forwardOriginalToken: false, outputClaimToHeaders: [], ...over });
const bearer = (token: string): { header(n: string): string | undefined; path: string } => ({ header: (n) => (n === 'authorization' ? `Bearer ${token}` : undefined), path: '/' });

let good: JSONWebKeySet;
let other: JSONWebKeySet;
let sign: (claims: JWTPayload, key: 'good' | 'other') => Promise<string>;

before(async () => {
  const g = await generateKeyPair('RS256');
  const o = await generateKeyPair('RS256');
  good = { keys: [{ ...(await exportJWK(g.publicKey)), kid: 'g', alg: 'RS256' }] };
  other = { keys: [{ ...(await exportJWK(o.publicKey)), kid: 'o', alg: 'RS256' }] };
  sign = (claims, key) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: key === 'good' ? 'g' : 'o' })
      .setExpirationTime(NOW + 600)
      .sign(key === 'good' ? g.privateKey : o.privateKey);
});

test('no issuer: any iss (or none) verified by the keys passes; a bad signature is 401', async () => {
  const rules = [rule()];
  const keysFor: KeysFor = () => good;
  const cases: [JWTPayload, 'good' | 'other', string][] = [
    [{ iss: 'https://a.example', sub: 'u1' }, 'good', 'pass https://a.example/u1'],
    [{ iss: 'https://b.example', sub: 'u2' }, 'good', 'pass https://b.example/u2'],
    [{ sub: 'u3' }, 'good', 'pass /u3'],
    [{ iss: 'https://a.example', sub: 'u1' }, 'other', `deny ${JWT_FAILURES.noKey}`],
  ];
  for (const [claims, key, want] of cases) {
    const out = await authenticate(rules, bearer(await sign(claims, key)), keysFor, NOW, true);
    const got = out.kind === 'pass' ? `pass ${out.auth?.principal}` : out.kind === 'deny' ? `deny ${out.body}` : out.kind;
    assert.equal(got, want, JSON.stringify(claims));
  }
});

test('a rule naming the issuer is chosen before one without', async () => {
  const named = rule({ issuer: 'https://a.example', jwksUri: 'http://keys/a' });
  const any = rule();
  const keysFor: KeysFor = (r) => (r === named ? other : good);
  const a = await authenticate([any, named], bearer(await sign({ iss: 'https://a.example', sub: 'x' }, 'other')), keysFor, NOW, true);
  assert.equal(a.kind, 'pass');
  const b = await authenticate([any, named], bearer(await sign({ iss: 'https://b.example', sub: 'y' }, 'good')), keysFor, NOW, true);
  assert.equal(b.kind === 'pass' ? b.auth?.principal : b.kind, 'https://b.example/y');
  // Without the catch-all rule, an issuer no rule names is still refused.
  const c = await authenticate([named], bearer(await sign({ iss: 'https://b.example', sub: 'y' }, 'good')), keysFor, NOW, true);
  assert.equal(c.kind === 'deny' ? c.body : c.kind, JWT_FAILURES.issuer);
});
