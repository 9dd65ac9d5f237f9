// The destination side's admission, decided: the policy request a tunnel stream's caller and a request
// make (identity from the certificate, attributes as forwarded), and the verdict: deliver, or Envoy's
// RBAC answer counted as DENY. Table-tested over compiled policies, as the engine runs them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuthzPolicy, AuthzRule } from '../../../src/config/model';
import { MeshAuthz } from '../../../src/policy/authz';
import { authzRequestOf, decideAtDestination, httpAttributes, RBAC_DENIED, type Caller, type RequestAttributes } from '../../../src/policy/destination';

const FRONTEND: Caller = { principal: 'cluster.local/ns/shop/sa/frontend', namespace: 'shop', ip: '10.1.2.3' };
const INTRUDER: Caller = { principal: 'cluster.local/ns/other/sa/x', namespace: 'other', ip: '10.9.9.9' };
const POD = { address: '10.1.0.7', port: 8080 };
const WORKLOAD = { namespace: 'shop', labels: { app: 'backend' } };

const pol = (name: string, action: AuthzPolicy['action'], ...rules: AuthzRule[]): AuthzPolicy => ({ name, namespace: 'shop', selector: undefined, action, rules });

function req(over: { method?: string; path?: string; authority?: string; headers?: [string, string][] } = {}): RequestAttributes {
  return { method: over.method ?? 'GET', path: over.path ?? '/items', authority: over.authority ?? 'web.shop', headers: () => over.headers ?? [] };
}

interface Case {
  readonly name: string;
  readonly policies: AuthzPolicy[];
  readonly caller?: Caller;
  readonly req?: RequestAttributes;
  readonly want: 'forward' | 'deny';
  readonly reason: string;
}

const onlyFrontend = pol('only-frontend', 'ALLOW', { from: [{ principals: [FRONTEND.principal] }] });

const table: Case[] = [
  { name: 'no policy: delivered', policies: [], want: 'forward', reason: 'no-policies' },
  { name: 'ALLOW names the caller', policies: [onlyFrontend], want: 'forward', reason: 'allowed' },
  { name: 'ALLOW names another caller', policies: [onlyFrontend], caller: INTRUDER, want: 'deny', reason: 'no-allow-match' },
  { name: 'namespace from the principal', policies: [pol('ns', 'ALLOW', { from: [{ namespaces: ['shop'] }] })], want: 'forward', reason: 'allowed' },
  { name: 'source ip is the caller ip', policies: [pol('ip', 'DENY', { from: [{ ipBlocks: ['10.1.2.0/24'] }] })], want: 'deny', reason: 'deny-policy' },
  { name: 'destination port is the pod port', policies: [pol('port', 'DENY', { to: [{ ports: [8080] }] })], want: 'deny', reason: 'deny-policy' },
  { name: 'DENY on a gRPC method path', policies: [onlyFrontend, pol('no-drop', 'DENY', { to: [{ paths: ['/pkg.Admin/*'] }] })], req: req({ method: 'POST', path: '/pkg.Admin/Drop' }), want: 'deny', reason: 'deny-policy' },
  { name: 'path rules ignore the query', policies: [pol('p', 'ALLOW', { to: [{ paths: ['/items'] }] })], req: req({ path: '/items?page=2' }), want: 'forward', reason: 'allowed' },
  { name: 'methods', policies: [pol('m', 'ALLOW', { to: [{ methods: ['GET'] }] })], req: req({ method: 'DELETE' }), want: 'deny', reason: 'no-allow-match' },
  { name: 'hosts from the authority, case-insensitive', policies: [pol('h', 'ALLOW', { to: [{ hosts: ['WEB.shop'] }] })], want: 'forward', reason: 'allowed' },
  {
    name: 'request.headers as forwarded',
    policies: [pol('hdr', 'ALLOW', { when: [{ key: 'request.headers[x-team]', values: ['blue'] }] })],
    req: req({ headers: [['x-team', 'blue']] }),
    want: 'forward',
    reason: 'allowed',
  },
  {
    name: 'request.headers[host] is the authority',
    policies: [pol('hdr', 'DENY', { when: [{ key: 'request.headers[host]', values: ['web.shop'] }] })],
    want: 'deny',
    reason: 'deny-policy',
  },
];

test('decideAtDestination: Istio order over the caller, the pod and the request', () => {
  for (const c of table) {
    const authz = new MeshAuthz(c.policies);
    const v = decideAtDestination((r) => authz.authorize(WORKLOAD, r), c.caller ?? FRONTEND, POD, c.req ?? req());
    assert.equal(v.kind, c.want, c.name);
    assert.equal(v.decision.reason, c.reason, c.name);
    if (v.kind === 'deny') {
      assert.deepEqual([v.status, v.body, v.flag], [403, 'RBAC: access denied', 'DENY'], c.name);
    }
  }
  assert.equal(RBAC_DENIED, 'RBAC: access denied');
});

test('authzRequestOf: identity and addresses; HTTP attributes only for requests', () => {
  assert.deepEqual(authzRequestOf(FRONTEND, POD), {
    source: { principal: FRONTEND.principal, namespace: 'shop', ip: '10.1.2.3' },
    destination: { ip: '10.1.0.7', port: 8080 },
  });
  const noNs = authzRequestOf({ principal: 'td/x', namespace: undefined, ip: '1.2.3.4' }, POD, { method: 'GET', path: '/', host: 'h', headers: {} });
  assert.deepEqual(noNs.source, { principal: 'td/x', ip: '1.2.3.4' });
  assert.equal(noNs.http?.host, 'h');
});

test('httpAttributes: repeated fields joined, host from the authority, no prototype keys', () => {
  const a = httpAttributes(req({ authority: 'web:8080', headers: [['x-a', '1'], ['x-a', '2'], ['constructor', 'c']] }));
  assert.equal(a.method, 'GET');
  assert.equal(a.host, 'web:8080');
  assert.deepEqual({ ...a.headers }, { 'x-a': '1, 2', constructor: 'c', host: 'web:8080' });
  assert.equal(httpAttributes(req({ authority: '' })).headers['host'], undefined);
});
