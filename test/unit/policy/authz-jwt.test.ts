// AuthorizationPolicy fields that read request authentication and the forwarded client address:
// requestPrincipals (prefix/suffix), request.auth.* conditions including nested claims, remoteIpBlocks
// with trusted proxies, and dry-run policies that are evaluated but never enforced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuthzPolicy, AuthzRule } from '../../../src/config/model';
import { compileAuthz, type AuthzRequest } from '../../../src/policy/authz';
import { remoteAddress } from '../../../src/policy/destination';
import type { RequestAuth } from '../../../src/policy/match';
import { docs, mustLoad } from '../config/helpers';

const AUTH: RequestAuth = {
  principal: 'https://issuer.example/alice',
  audiences: ['shop', 'web'],
  presenter: 'cli',
  claims: { iss: 'https://issuer.example', sub: 'alice', groups: ['dev', 'ops'], org: { team: 'pay', level: 3 }, admin: true },
};

function req(over: { auth?: RequestAuth | undefined; remoteIp?: string; tcp?: boolean } = {}): AuthzRequest {
  return {
    source: { principal: 'cluster.local/ns/default/sa/sleep', ip: '10.0.0.5' },
    destination: { ip: '10.1.0.1', port: 8080 },
    ...(over.tcp ? {} : { http: { method: 'GET', path: '/', host: 'web', headers: {} } }),
    ...('auth' in over ? (over.auth !== undefined ? { auth: over.auth } : {}) : { auth: AUTH }),
    ...(over.remoteIp !== undefined ? { remoteIp: over.remoteIp } : {}),
  };
}

const allow = (rule: AuthzRule, over: Partial<AuthzPolicy> = {}): AuthzPolicy => ({ name: 'p', namespace: 'foo', selector: undefined, action: 'ALLOW', rules: [rule], ...over });
const allowed = (p: AuthzPolicy, r: AuthzRequest): boolean => compileAuthz([p]).authorize(r).allowed;

test('requestPrincipals: exact, prefix, suffix, *; a request without a token matches none of them', () => {
  const cases: [string[], RequestAuth | undefined, boolean][] = [
    [['https://issuer.example/alice'], AUTH, true],
    [['https://issuer.example/*'], AUTH, true],
    [['*/alice'], AUTH, true],
    [['*'], AUTH, true],
    [['https://other/*'], AUTH, false],
    [['*'], undefined, false],
    [['https://issuer.example/*'], undefined, false],
  ];
  for (const [values, auth, want] of cases) {
    assert.equal(allowed(allow({ from: [{ requestPrincipals: values }] }), req({ auth })), want, `${values} with ${auth?.principal ?? 'no token'}`);
  }
});

test('notRequestPrincipals ["*"] in a DENY policy denies requests without a token, as in Istio', () => {
  const p: AuthzPolicy = { name: 'd', namespace: 'foo', selector: undefined, action: 'DENY', rules: [{ from: [{ notRequestPrincipals: ['*'] }] }] };
  assert.equal(compileAuthz([p]).authorize(req({ auth: undefined })).allowed, false);
  assert.equal(compileAuthz([p]).authorize(req()).allowed, true);
});

test('request.auth.* conditions: principal, audiences (any), presenter, claims (lists, nested, numbers, booleans)', () => {
  const cases: [string, string[], boolean][] = [
    ['request.auth.principal', ['https://issuer.example/alice'], true],
    ['request.auth.principal', ['*/bob'], false],
    ['request.auth.audiences', ['web'], true],
    ['request.auth.audiences', ['admin'], false],
    ['request.auth.presenter', ['cli'], true],
    ['request.auth.presenter', ['c*'], true],
    ['request.auth.claims[sub]', ['alice'], true],
    ['request.auth.claims[groups]', ['ops'], true],
    ['request.auth.claims[groups]', ['qa'], false],
    ['request.auth.claims[org][team]', ['pay'], true],
    ['request.auth.claims[org][level]', ['3'], true],
    ['request.auth.claims[org][missing]', ['*'], false],
    ['request.auth.claims[admin]', ['true'], true],
    ['request.auth.claims[org]', ['*'], false],
  ];
  for (const [key, values, want] of cases) {
    assert.equal(allowed(allow({ when: [{ key, values }] }), req()), want, `${key} in ${values}`);
  }
  // Without a token every request.auth value is missing: values never match, notValues always do.
  assert.equal(allowed(allow({ when: [{ key: 'request.auth.claims[sub]', values: ['*'] }] }), req({ auth: undefined })), false);
  assert.equal(allowed(allow({ when: [{ key: 'request.auth.claims[sub]', notValues: ['bob'] }] }), req({ auth: undefined })), true);
});

test('JWT fields are HTTP-only: on TCP an ALLOW rule using them never matches', () => {
  assert.equal(allowed(allow({ from: [{ requestPrincipals: ['*'] }] }), req({ tcp: true })), false);
  assert.equal(allowed(allow({ when: [{ key: 'request.auth.claims[sub]', values: ['alice'] }] }), req({ tcp: true })), false);
});

test('remoteIpBlocks and remote.ip read the remote address, defaulting to the source address', () => {
  const rule = (blocks: string[]): AuthzPolicy => allow({ from: [{ remoteIpBlocks: blocks }] });
  assert.equal(allowed(rule(['203.0.113.0/24']), req({ remoteIp: '203.0.113.9' })), true);
  assert.equal(allowed(rule(['203.0.113.0/24']), req()), false);
  assert.equal(allowed(rule(['10.0.0.5']), req()), true);
  assert.equal(allowed(allow({ from: [{ notRemoteIpBlocks: ['203.0.113.0/24'] }] }), req({ remoteIp: '203.0.113.9' })), false);
  assert.equal(allowed(allow({ when: [{ key: 'remote.ip', values: ['198.51.100.0/24'] }] }), req({ remoteIp: '198.51.100.1' })), true);
  // remoteIpBlocks is not HTTP-only: on TCP it reads the connection's source.
  assert.equal(allowed(rule(['10.0.0.0/8']), req({ tcp: true })), true);
});

test('remoteAddress: X-Forwarded-For read N hops from the right with N trusted proxies', () => {
  const cases: [string | undefined, number, string][] = [
    ['203.0.113.9', 0, '10.0.0.5'],
    ['203.0.113.9', 1, '203.0.113.9'],
    ['198.51.100.1, 203.0.113.9', 1, '203.0.113.9'],
    ['198.51.100.1, 203.0.113.9', 2, '198.51.100.1'],
    ['198.51.100.1,203.0.113.9', 3, '10.0.0.5'],
    [undefined, 2, '10.0.0.5'],
    ['unknown, 203.0.113.9', 2, '10.0.0.5'],
    ['', 1, '10.0.0.5'],
  ];
  for (const [xff, n, want] of cases) assert.equal(remoteAddress(xff, n, '10.0.0.5'), want, `${xff} with ${n}`);
});

test('dry-run policies never decide; each reports what it alone would have done', () => {
  const dryDeny: AuthzPolicy = { name: 'dd', namespace: 'foo', selector: undefined, action: 'DENY', rules: [{ when: [{ key: 'request.auth.claims[sub]', values: ['alice'] }] }], dryRun: true };
  const dryAllow: AuthzPolicy = { name: 'da', namespace: 'foo', selector: undefined, action: 'ALLOW', rules: [{ from: [{ requestPrincipals: ['*/bob'] }] }], dryRun: true };
  const d = compileAuthz([dryAllow, dryDeny]).authorize(req());
  // Only dry-run policies: as if there were none.
  assert.equal(d.allowed, true);
  assert.equal(d.reason, 'no-policies');
  assert.deepEqual(d.dryRun, [
    { policy: 'foo/da', action: 'ALLOW', matched: false, result: 'deny' },
    { policy: 'foo/dd', action: 'DENY', matched: true, result: 'deny' },
  ]);
  // With an enforced policy the decision is that policy's alone.
  const enforced = allow({ from: [{ requestPrincipals: ['*'] }] }, { name: 'e' });
  const e = compileAuthz([enforced, dryDeny]).authorize(req());
  assert.equal(e.allowed, true);
  assert.equal(e.policy, 'foo/e');
  assert.equal(e.dryRun?.[0]?.result, 'deny');
  assert.equal(compileAuthz([enforced]).authorize(req()).dryRun, undefined);
});

test('the loader reads the new fields and the dry-run annotation', () => {
  const c = mustLoad(
    docs({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'p', namespace: 'foo', annotations: { 'istio.io/dry-run': 'true' } },
      spec: {
        rules: [{ from: [{ source: { requestPrincipals: ['iss/*'], notRemoteIpBlocks: ['10.0.0.0/8'] } }], when: [{ key: 'request.auth.claims[org][team]', values: ['pay'] }] }],
      },
    }),
  );
  const p = c.authorizationPolicies[0]!;
  assert.equal(p.dryRun, true);
  assert.deepEqual(p.rules[0]?.from?.[0], { requestPrincipals: ['iss/*'], notRemoteIpBlocks: ['10.0.0.0/8'] });
  assert.deepEqual(p.rules[0]?.when?.[0], { key: 'request.auth.claims[org][team]', values: ['pay'] });
});
