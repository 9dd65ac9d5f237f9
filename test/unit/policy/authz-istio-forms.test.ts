// Istio forms of AuthorizationPolicy values as real policies write them: method wildcards, path
// templates, serviceAccounts, trustDomains and pseudo-header conditions, read from YAML and decided.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileAuthz, type AuthzRequest } from '../../../src/policy/authz';
import { docs, loadText } from '../config/helpers';

const SLEEP = 'cluster.local/ns/default/sa/sleep';

function request(over: { principal?: string; method?: string; path?: string; host?: string } = {}): AuthzRequest {
  return {
    source: { principal: over.principal ?? SLEEP, ip: '10.0.0.5' },
    destination: { ip: '10.1.0.1', port: 8080 },
    http: { method: over.method ?? 'GET', path: over.path ?? '/info', host: over.host ?? 'httpbin.foo', headers: {} },
  };
}

/** One ALLOW policy in namespace foo with RULE, loaded through the config reader. */
function allowed(rule: Record<string, unknown>, req: AuthzRequest): boolean {
  const r = loadText(docs({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'foo' }, spec: { rules: [rule] } }));
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.field}: ${i.message}`).join('\n'));
  return compileAuthz(r.config.authorizationPolicies).authorize(req).allowed;
}

const op = (o: Record<string, unknown>): Record<string, unknown> => ({ to: [{ operation: o }] });
const src = (s: Record<string, unknown>): Record<string, unknown> => ({ from: [{ source: s }] });

const CASES: readonly [string, Record<string, unknown>, AuthzRequest, boolean][] = [
  ['method prefix matches', op({ methods: ['PO*'] }), request({ method: 'POST' }), true],
  ['method prefix does not match', op({ methods: ['PO*'] }), request({ method: 'GET' }), false],
  ['method suffix matches', op({ methods: ['*ET'] }), request({ method: 'GET' }), true],
  ['{*} matches one segment', op({ paths: ['/foo/{*}/bar'] }), request({ path: '/foo/x/bar' }), true],
  ['{*} does not cross segments', op({ paths: ['/foo/{*}/bar'] }), request({ path: '/foo/x/y/bar' }), false],
  ['{**} crosses segments', op({ paths: ['/store/{**}/cart'] }), request({ path: '/store/a/b/cart' }), true],
  ['{**} with a suffix in the segment', op({ paths: ['/foo/{*}/bar/{**}.txt'] }), request({ path: '/foo/x/bar/a/b.txt' }), true],
  ['{**} suffix mismatch', op({ paths: ['/foo/{*}/bar/{**}.txt'] }), request({ path: '/foo/x/bar/a/b.png' }), false],
  ['template ignores the query', op({ paths: ['/allow/admin/{**}'] }), request({ path: '/allow/admin/x?y=1' }), true],
  ['serviceAccounts with namespace', src({ serviceAccounts: ['default/sleep'] }), request(), true],
  ['serviceAccounts other account', src({ serviceAccounts: ['default/other'] }), request(), false],
  ['serviceAccounts bare name is the policy namespace', src({ serviceAccounts: ['sleep'] }), request({ principal: 'cluster.local/ns/foo/sa/sleep' }), true],
  ['serviceAccounts bare name, other namespace', src({ serviceAccounts: ['sleep'] }), request(), false],
  ['notServiceAccounts', src({ notServiceAccounts: ['default/sleep'] }), request(), false],
  ['trustDomains matches', src({ trustDomains: ['cluster.local'] }), request(), true],
  ['trustDomains other domain', src({ trustDomains: ['bad.example.com'] }), request(), false],
  ['notTrustDomains', src({ notTrustDomains: ['bad.example.com'] }), request(), true],
  ['principal of another shape never matches a mesh id', src({ principals: ['bar'] }), request(), false],
  ['principal suffix against the id', src({ principals: ['*sa/sleep'] }), request(), true],
  ['principal of another shape matches that id', src({ principals: ['example.org/workload/web'] }), request({ principal: 'spiffe://example.org/workload/web' }), true],
  ['principal prefix of another shape', src({ principals: ['example.org/workload/*'] }), request({ principal: 'example.org/workload/web' }), true],
  ['principal prefix, other id', src({ principals: ['example.org/workload/*'] }), request(), false],
  ['notPrincipals of another shape', src({ notPrincipals: ['bar'] }), request(), true],
  ['source.principal of another shape', { when: [{ key: 'source.principal', values: ['example.org/*'] }] }, request({ principal: 'spiffe://example.org/x' }), true],
  ['source.principal of another shape, mesh id', { when: [{ key: 'source.principal', values: ['example.org/*'] }] }, request(), false],
  [':authority condition', { when: [{ key: 'request.headers[:authority]', values: ['httpbin.*'] }] }, request(), true],
  [':authority condition, other host', { when: [{ key: 'request.headers[:authority]', values: ['web.*'] }] }, request(), false],
];

for (const [name, rule, req, want] of CASES) {
  test(`authz Istio forms: ${name}`, () => assert.equal(allowed(rule, req), want));
}

test('serviceAccounts cannot share a source with principals or namespaces', () => {
  const r = loadText(docs({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p' }, spec: { rules: [src({ serviceAccounts: ['a/b'], namespaces: ['a'] })] } }));
  assert.ok(!r.ok);
  assert.match(r.issues.map((i) => `${i.field}: ${i.message}`).join('\n'), /namespaces: cannot be set together with serviceAccounts/);
});

test('a 64-character object name is accepted (names are DNS subdomains)', () => {
  const name = 'a'.repeat(64);
  const r = loadText(docs({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name }, spec: {} }));
  assert.ok(r.ok, r.ok ? '' : r.issues.map((i) => i.message).join('\n'));
});
