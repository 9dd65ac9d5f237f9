// RequestAuthentication documents: the model a good one builds, and a named field and a fix for every
// bad one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { docs, loadText, mustLoad } from './helpers';

type Obj = Record<string, unknown>;
const JWKS = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'QEGJz4Sox1u1dz9g6TwhrtX3xDhwEHEH2u_zdebFl04', y: 'Kv5Hb7-fnuY0FpvgF72N_pj7dprXWhkDRmKH279uOME', kid: 'k' }] });
const ra = (spec: Obj, version = 'v1'): string => docs({ apiVersion: `security.istio.io/${version}`, kind: 'RequestAuthentication', metadata: { name: 'jwt', namespace: 'shop' }, spec });
const jwtRule = (over: Obj = {}): Obj => ({ issuer: 'https://issuer.example', jwksUri: 'https://issuer.example/jwks.json', ...over });

test('a RequestAuthentication (v1 and v1beta1) builds its rules with Istio defaults', () => {
  for (const version of ['v1', 'v1beta1']) {
    const c = mustLoad(
      ra(
        {
          selector: { matchLabels: { app: 'web' } },
          jwtRules: [
            jwtRule({ audiences: ['shop'], fromHeaders: [{ name: 'X-Jwt', prefix: 'Token ' }], fromParams: ['t'], forwardOriginalToken: true, outputPayloadToHeader: 'x-payload', outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }] }),
            { issuer: 'inline', jwks: JWKS },
          ],
        },
        version,
      ),
    );
    const p = c.requestAuthentications?.[0];
    assert.deepEqual(p?.selector, { app: 'web' });
    assert.deepEqual(p?.jwtRules[0], {
      issuer: 'https://issuer.example',
      audiences: ['shop'],
      jwksUri: 'https://issuer.example/jwks.json',
      fromHeaders: [{ name: 'x-jwt', prefix: 'Token ' }],
      fromParams: ['t'],
      forwardOriginalToken: true,
      outputPayloadToHeader: 'x-payload',
      outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }],
    });
    assert.deepEqual(p?.jwtRules[1], { issuer: 'inline', audiences: [], jwks: JWKS, fromHeaders: [], fromParams: [], forwardOriginalToken: false, outputClaimToHeaders: [] });
  }
  assert.equal(mustLoad(docs({ apiVersion: 'v1', kind: 'List', items: [] })).requestAuthentications, undefined);
});

test('bad RequestAuthentications name the field and say what to do', () => {
  const cases: [string, Obj, string, string][] = [
    ['no issuer with inline jwks', { jwtRules: [{ jwks: JWKS }] }, 'spec.jwtRules[0].issuer', 'only with jwksUri'],
    ['empty issuer with inline jwks', { jwtRules: [{ issuer: '', jwks: JWKS }] }, 'spec.jwtRules[0].issuer', 'must not be empty'],
    ['no keys', { jwtRules: [{ issuer: 'i' }] }, 'spec.jwtRules[0].jwksUri', 'OpenID discovery'],
    ['both keys', { jwtRules: [jwtRule({ jwks: JWKS })] }, 'spec.jwtRules[0].jwksUri', 'not both'],
    ['bad uri', { jwtRules: [jwtRule({ jwksUri: 'ftp://k/j' })] }, 'spec.jwtRules[0].jwksUri', 'http or https'],
    ['not a url', { jwtRules: [jwtRule({ jwksUri: 'keys' })] }, 'spec.jwtRules[0].jwksUri', 'is not a URL'],
    ['bad jwks', { jwtRules: [{ issuer: 'i', jwks: '{"keys": []}' }] }, 'spec.jwtRules[0].jwks', 'at least one key'],
    ['jwks not json', { jwtRules: [{ issuer: 'i', jwks: '{' }] }, 'spec.jwtRules[0].jwks', 'is not JSON'],
    ['oct key without its secret', { jwtRules: [{ issuer: 'i', jwks: '{"keys": [{"kty": "oct", "kid": "h1"}]}' }] }, 'spec.jwtRules[0].jwks', 'keys[0] (kid "h1") is a kty "oct" key without its secret'],
    ['oct key with k not base64url', { jwtRules: [{ issuer: 'i', jwks: '{"keys": [{"kty": "oct", "kid": "h1", "k": "not base64!!"}]}' }] }, 'spec.jwtRules[0].jwks', 'keys[0] (kid "h1") has a "k" that is not base64url: write the secret base64url-encoded'],
    ['oct key of one byte', { jwtRules: [{ issuer: 'i', jwks: '{"keys": [{"kty": "oct", "kid": "h1", "k": "AA"}]}' }] }, 'spec.jwtRules[0].jwks', 'keys[0] (kid "h1") has a secret of 1 byte in "k": HS256 needs at least 32 (HS384 48, HS512 64), the hash size (RFC 7518 §3.2); use a longer secret; fix or remove it'],
    ['HS512 key of 48 bytes', { jwtRules: [{ issuer: 'i', jwks: JSON.stringify({ keys: [{ kty: 'oct', alg: 'HS512', k: Buffer.alloc(48, 1).toString('base64url') }] }) }] }, 'spec.jwtRules[0].jwks', 'keys[0] has a secret of 48 bytes in "k": HS512 needs at least 64,'],
    ['HS256 on an RSA key', { jwtRules: [{ issuer: 'i', jwks: '{"keys": [{"kty": "RSA", "kid": "r", "alg": "HS256", "n": "AQAB", "e": "AQAB"}]}' }] }, 'spec.jwtRules[0].jwks', 'has alg "HS256", which a kty "RSA" key cannot verify'],
    ['EC key material that does not parse', { jwtRules: [{ issuer: 'i', jwks: '{"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]}' }] }, 'spec.jwtRules[0].jwks', 'keys[0] is not a valid EC public key'],
    ['unsupported key type', { jwtRules: [{ issuer: 'i', jwks: '{"keys": [{"kty": "XYZ"}]}' }] }, 'spec.jwtRules[0].jwks', 'cannot verify tokens (use RSA, EC, OKP or oct)'],
    ['duplicate issuer', { jwtRules: [jwtRule(), jwtRule()] }, 'spec.jwtRules[1].issuer', 'one rule per issuer'],
    ['header without name', { jwtRules: [jwtRule({ fromHeaders: [{ prefix: 'x' }] })] }, 'spec.jwtRules[0].fromHeaders[0].name', 'required'],
    ['bad header name', { jwtRules: [jwtRule({ outputPayloadToHeader: 'a b' })] }, 'spec.jwtRules[0].outputPayloadToHeader', 'not a valid header name'],
    ['claim header without claim', { jwtRules: [jwtRule({ outputClaimToHeaders: [{ header: 'x' }] })] }, 'spec.jwtRules[0].outputClaimToHeaders[0].claim', 'required'],
    ['forward not boolean', { jwtRules: [jwtRule({ forwardOriginalToken: 'yes' })] }, 'spec.jwtRules[0].forwardOriginalToken', 'true or false'],
    ['targetRef of a Gateway', { targetRef: { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'gw' }, jwtRules: [jwtRule()] }, 'spec.targetRef', 'kind Gateway is not supported'],
    ['targetRefs with a selector', { selector: { matchLabels: { app: 'web' } }, targetRefs: [{ kind: 'Service', name: 'web' }], jwtRules: [jwtRule()] }, 'spec.targetRefs', 'cannot be used together with selector'],
    ['targetRef and targetRefs', { targetRef: { kind: 'Service', name: 'web' }, targetRefs: [{ kind: 'Service', name: 'web' }], jwtRules: [jwtRule()] }, 'spec.targetRefs', 'cannot be used together with targetRef'],
    ['targetRefs empty', { targetRefs: [], jwtRules: [jwtRule()] }, 'spec.targetRefs', 'must not be empty'],
    ['targetRef of a Service with a wrong group', { targetRef: { kind: 'Service', group: 'apps', name: 'web' }, jwtRules: [jwtRule()] }, 'spec.targetRef.group', 'is not the group of Service'],
    ['targetRef in another namespace', { targetRef: { kind: 'Service', name: 'web', namespace: 'other' }, jwtRules: [jwtRule()] }, 'spec.targetRef.namespace', "must be the policy's namespace"],
    ['targetRef without name', { targetRef: { kind: 'Service' }, jwtRules: [jwtRule()] }, 'spec.targetRef.name', 'required'],
    ['unknown field', { jwtRules: [jwtRule({ issuers: 'x' })] }, 'spec.jwtRules[0].issuers', 'unknown field'],
  ];
  for (const [name, spec, field, message] of cases) {
    const r = loadText(ra(spec));
    assert.equal(r.ok, false, name);
    if (r.ok) continue;
    const hit = r.issues.find((i) => i.field === field);
    assert.ok(hit, `${name}: no issue at ${field}: ${JSON.stringify(r.issues)}`);
    assert.match(hit.message, new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), name);
  }
});

test('the dry-run annotation must be "true" or "false"', () => {
  const r = loadText(docs({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'shop', annotations: { 'istio.io/dry-run': 'yes' } }, spec: {} }));
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.issues[0]?.message ?? '', /must be "true" or "false"/);
});

test('a rule may leave issuer out when it names a jwksUri, as Istio validates it', () => {
  const c = mustLoad(ra({ jwtRules: [{ jwksUri: 'https://issuer.example/jwks.json' }, { issuer: '', jwksUri: 'https://other.example/jwks.json' }] }));
  const rules = c.requestAuthentications?.[0]?.jwtRules;
  assert.equal(rules?.length, 2);
  assert.equal(rules?.[0]?.issuer, '');
  assert.equal(rules?.[1]?.issuer, '');
});
