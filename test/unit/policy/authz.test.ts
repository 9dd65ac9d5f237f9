// AuthorizationPolicy decisions: Istio's action order, every source/operation/condition field and its
// not-form, string and CIDR matching, and what changes when the request is TCP instead of HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuthzAction, AuthzPolicy, AuthzRule } from '../../../src/config/model';
import { MeshAuthz, authorize, compileAuthz, policiesFor, type AuthzDecision, type AuthzRequest } from '../../../src/policy/authz';
import { docs, mustLoad } from '../config/helpers';

const SLEEP = 'cluster.local/ns/default/sa/sleep';
const ADMIN = 'cluster.local/ns/ops/sa/admin';

const pol = (name: string, action: AuthzAction, rules: AuthzRule[] = [], over: Partial<AuthzPolicy> = {}): AuthzPolicy => ({
  name,
  namespace: 'foo',
  selector: undefined,
  action,
  rules,
  ...over,
});
const allow = (name: string, ...rules: AuthzRule[]): AuthzPolicy => pol(name, 'ALLOW', rules);
const deny = (name: string, ...rules: AuthzRule[]): AuthzPolicy => pol(name, 'DENY', rules);
const audit = (name: string, ...rules: AuthzRule[]): AuthzPolicy => pol(name, 'AUDIT', rules);

interface Over {
  principal?: string | undefined;
  namespace?: string;
  ip?: string;
  dstIp?: string;
  port?: number;
  method?: string;
  path?: string;
  host?: string;
  headers?: Record<string, string>;
  sni?: string;
}

/** An HTTP GET /info from sleep (mTLS) at 10.0.0.5 to 10.1.0.1:8080, with OVER applied. */
function http(over: Over = {}): AuthzRequest {
  return {
    ...tcp(over),
    http: { method: over.method ?? 'GET', path: over.path ?? '/info', host: over.host ?? 'httpbin.foo', headers: over.headers ?? {} },
  };
}

/** The same as a TCP connection. */
function tcp(over: Over = {}): AuthzRequest {
  const principal = 'principal' in over ? over.principal : SLEEP;
  return {
    source: { ...(principal !== undefined ? { principal } : {}), ...(over.namespace !== undefined ? { namespace: over.namespace } : {}), ip: over.ip ?? '10.0.0.5' },
    destination: { ip: over.dstIp ?? '10.1.0.1', port: over.port ?? 8080 },
    ...(over.sni !== undefined ? { sni: over.sni } : {}),
  };
}

const plaintext = { principal: undefined };

interface Case {
  readonly name: string;
  readonly policies: AuthzPolicy[];
  readonly req: AuthzRequest;
  /** true/false for allowed only, or the whole decision. */
  readonly want: boolean | AuthzDecision;
}

const ALLOWED: AuthzDecision = { allowed: true, reason: 'allowed', audited: false };
const NO_POLICIES: AuthzDecision = { allowed: true, reason: 'no-policies', audited: false };
const NO_MATCH: AuthzDecision = { allowed: false, reason: 'no-allow-match', audited: false };
const by = (d: AuthzDecision, policy: string, audited = false): AuthzDecision => ({ ...d, policy, audited });
const DENIED: AuthzDecision = { allowed: false, reason: 'deny-policy', audited: false };

/** An ALLOW policy "a" with one rule. */
const only = (r: AuthzRule): AuthzPolicy[] => [allow('a', r)];

const CASES: readonly Case[] = [
  // Action order.
  { name: 'no policies: allow', policies: [], req: http(), want: NO_POLICIES },
  { name: 'ALLOW without rules (spec: {}) denies everything', policies: [allow('nothing')], req: http(), want: NO_MATCH },
  { name: 'ALLOW with an empty rule allows everything', policies: [allow('all', {})], req: http(), want: by(ALLOWED, 'foo/all') },
  { name: 'DENY with an empty rule denies everything', policies: [deny('all', {})], req: http(), want: by(DENIED, 'foo/all') },
  { name: 'DENY without rules never matches', policies: [deny('none')], req: http(), want: NO_POLICIES },
  { name: 'DENY beats ALLOW', policies: [allow('all', {}), deny('all', {})], req: http(), want: by(DENIED, 'foo/all') },
  { name: 'unmatched DENY and no ALLOW: allow', policies: [deny('d', { from: [{ principals: [ADMIN] }] })], req: http(), want: NO_POLICIES },
  { name: 'ALLOW that does not match: deny', policies: only({ from: [{ principals: [ADMIN] }] }), req: http(), want: NO_MATCH },
  { name: 'second ALLOW matches', policies: [allow('a', { from: [{ principals: [ADMIN] }] }), allow('b', { from: [{ principals: [SLEEP] }] })], req: http(), want: by(ALLOWED, 'foo/b') },
  { name: 'AUDIT alone: allowed and audited', policies: [audit('log', {})], req: http(), want: { ...NO_POLICIES, audited: true } },
  { name: 'AUDIT not matching', policies: [audit('log', { to: [{ paths: ['/admin'] }] })], req: http(), want: NO_POLICIES },
  { name: 'AUDIT without rules never audits', policies: [audit('log')], req: http(), want: NO_POLICIES },
  { name: 'AUDIT reported with a DENY', policies: [audit('log', {}), deny('d', {})], req: http(), want: by(DENIED, 'foo/d', true) },
  { name: 'AUDIT does not count as ALLOW', policies: [audit('log', {}), allow('a', { to: [{ paths: ['/x'] }] })], req: http(), want: { ...NO_MATCH, audited: true } },

  // Principals.
  { name: 'principal exact', policies: only({ from: [{ principals: [SLEEP] }] }), req: http(), want: true },
  { name: 'principal exact, other caller', policies: only({ from: [{ principals: [SLEEP] }] }), req: http({ principal: ADMIN }), want: false },
  { name: 'principal prefix', policies: only({ from: [{ principals: ['cluster.local/ns/default/*'] }] }), req: http(), want: true },
  { name: 'principal prefix, other namespace', policies: only({ from: [{ principals: ['cluster.local/ns/default/*'] }] }), req: http({ principal: ADMIN }), want: false },
  { name: 'principal suffix', policies: only({ from: [{ principals: ['*/sa/sleep'] }] }), req: http(), want: true },
  { name: 'principal suffix must match the end', policies: only({ from: [{ principals: ['*/sa/slee'] }] }), req: http(), want: false },
  { name: 'principal * = any authenticated peer', policies: only({ from: [{ principals: ['*'] }] }), req: http({ principal: ADMIN }), want: true },
  { name: 'principal * refuses plaintext', policies: only({ from: [{ principals: ['*'] }] }), req: http(plaintext), want: false },
  { name: 'principal given with spiffe:// by the caller', policies: only({ from: [{ principals: [SLEEP] }] }), req: http({ principal: `spiffe://${SLEEP}` }), want: true },
  { name: 'notPrincipals excludes the caller', policies: only({ from: [{ notPrincipals: [SLEEP] }] }), req: http(), want: false },
  { name: 'notPrincipals lets others in', policies: only({ from: [{ notPrincipals: [SLEEP] }] }), req: http({ principal: ADMIN }), want: true },
  { name: 'notPrincipals matches plaintext (missing attribute)', policies: only({ from: [{ notPrincipals: ['*'] }] }), req: http(plaintext), want: true },
  { name: 'notPrincipals * refuses authenticated', policies: only({ from: [{ notPrincipals: ['*'] }] }), req: http(), want: false },

  // Namespaces.
  { name: 'namespace from the principal', policies: only({ from: [{ namespaces: ['default'] }] }), req: http(), want: true },
  { name: 'namespace mismatch', policies: only({ from: [{ namespaces: ['ops'] }] }), req: http(), want: false },
  { name: 'explicit source namespace', policies: only({ from: [{ namespaces: ['ops'] }] }), req: http({ principal: undefined, namespace: 'ops' }), want: true },
  { name: 'the principal\'s namespace wins over a stated one', policies: only({ from: [{ namespaces: ['ops'] }] }), req: http({ namespace: 'ops' }), want: false },
  { name: 'namespace prefix', policies: only({ from: [{ namespaces: ['def*'] }] }), req: http(), want: true },
  { name: 'namespace suffix', policies: only({ from: [{ namespaces: ['*ault'] }] }), req: http(), want: true },
  { name: 'namespace * refuses plaintext', policies: only({ from: [{ namespaces: ['*'] }] }), req: http(plaintext), want: false },
  { name: 'notNamespaces', policies: only({ from: [{ notNamespaces: ['default'] }] }), req: http(), want: false },
  { name: 'notNamespaces, other namespace', policies: only({ from: [{ notNamespaces: ['default'] }] }), req: http({ principal: ADMIN }), want: true },

  // IP blocks.
  { name: 'ipBlocks CIDR', policies: only({ from: [{ ipBlocks: ['10.0.0.0/24'] }] }), req: http(), want: true },
  { name: 'ipBlocks CIDR outside', policies: only({ from: [{ ipBlocks: ['10.0.1.0/24'] }] }), req: http(), want: false },
  { name: 'ipBlocks single address', policies: only({ from: [{ ipBlocks: ['10.0.0.5'] }] }), req: http(), want: true },
  { name: 'ipBlocks single address, other', policies: only({ from: [{ ipBlocks: ['10.0.0.6'] }] }), req: http(), want: false },
  { name: 'ipBlocks /0', policies: only({ from: [{ ipBlocks: ['0.0.0.0/0'] }] }), req: http({ ip: '203.0.113.9' }), want: true },
  { name: 'ipBlocks with host bits', policies: only({ from: [{ ipBlocks: ['10.0.0.77/16'] }] }), req: http(), want: true },
  { name: 'ipBlocks /31 edge', policies: only({ from: [{ ipBlocks: ['10.0.0.4/31'] }] }), req: http(), want: true },
  { name: 'ipBlocks high addresses', policies: only({ from: [{ ipBlocks: ['255.255.255.0/24'] }] }), req: http({ ip: '255.255.255.255' }), want: true },
  { name: 'notIpBlocks', policies: only({ from: [{ notIpBlocks: ['10.0.0.0/8'] }] }), req: http(), want: false },
  { name: 'notIpBlocks, outside', policies: only({ from: [{ notIpBlocks: ['10.0.0.0/8'] }] }), req: http({ ip: '192.168.1.1' }), want: true },
  { name: 'IPv6 source never in a block', policies: only({ from: [{ ipBlocks: ['0.0.0.0/0'] }] }), req: http({ ip: '::1' }), want: false },
  { name: 'IPv6 source is outside notIpBlocks', policies: only({ from: [{ notIpBlocks: ['0.0.0.0/0'] }] }), req: http({ ip: '::1' }), want: true },

  // Combinations inside a rule.
  { name: 'source fields are ANDed', policies: only({ from: [{ principals: [SLEEP], ipBlocks: ['192.168.0.0/16'] }] }), req: http(), want: false },
  { name: 'from entries are ORed', policies: only({ from: [{ principals: [ADMIN] }, { ipBlocks: ['10.0.0.0/8'] }] }), req: http(), want: true },
  { name: 'from and to are ANDed', policies: only({ from: [{ principals: [SLEEP] }], to: [{ methods: ['POST'] }] }), req: http(), want: false },
  { name: 'to entries are ORed', policies: only({ to: [{ methods: ['POST'] }, { paths: ['/info'] }] }), req: http(), want: true },
  { name: 'values within a field are ORed', policies: only({ to: [{ methods: ['POST', 'GET'] }] }), req: http(), want: true },
  { name: 'rules are ORed', policies: [allow('a', { to: [{ methods: ['POST'] }] }, { to: [{ methods: ['GET'] }] })], req: http(), want: by(ALLOWED, 'foo/a') },

  // Operations.
  { name: 'method', policies: only({ to: [{ methods: ['GET'] }] }), req: http(), want: true },
  { name: 'method mismatch', policies: only({ to: [{ methods: ['GET'] }] }), req: http({ method: 'POST' }), want: false },
  { name: 'method is case-sensitive', policies: only({ to: [{ methods: ['GET'] }] }), req: http({ method: 'get' }), want: false },
  { name: 'notMethods', policies: only({ to: [{ notMethods: ['DELETE'] }] }), req: http({ method: 'DELETE' }), want: false },
  { name: 'path exact', policies: only({ to: [{ paths: ['/info'] }] }), req: http(), want: true },
  { name: 'path exact ignores the query', policies: only({ to: [{ paths: ['/info'] }] }), req: http({ path: '/info?x=1#top' }), want: true },
  { name: 'path exact is not a prefix', policies: only({ to: [{ paths: ['/info'] }] }), req: http({ path: '/info/more' }), want: false },
  { name: 'path prefix /api/*', policies: only({ to: [{ paths: ['/api/*'] }] }), req: http({ path: '/api/v1/users' }), want: true },
  { name: 'path prefix /api/* needs the slash', policies: only({ to: [{ paths: ['/api/*'] }] }), req: http({ path: '/api' }), want: false },
  { name: 'path prefix /info*', policies: only({ to: [{ paths: ['/info*'] }] }), req: http({ path: '/infox' }), want: true },
  { name: 'path suffix', policies: only({ to: [{ paths: ['*.html'] }] }), req: http({ path: '/a/b/index.html' }), want: true },
  { name: 'path suffix before the query', policies: only({ to: [{ paths: ['*.html'] }] }), req: http({ path: '/index.php?f=a.html' }), want: false },
  { name: 'path *', policies: only({ to: [{ paths: ['*'] }] }), req: http({ path: '/' }), want: true },
  { name: 'notPaths', policies: only({ to: [{ notPaths: ['/admin/*'] }] }), req: http({ path: '/admin/users' }), want: false },
  { name: 'notPaths, other path', policies: only({ to: [{ notPaths: ['/admin/*'] }] }), req: http(), want: true },
  { name: 'host exact, case-insensitive', policies: only({ to: [{ hosts: ['HTTPBIN.foo'] }] }), req: http({ host: 'httpbin.FOO' }), want: true },
  { name: 'host exact does not ignore a port', policies: only({ to: [{ hosts: ['httpbin.foo'] }] }), req: http({ host: 'httpbin.foo:8000' }), want: false },
  { name: 'host with :* covers ports', policies: only({ to: [{ hosts: ['httpbin.foo:*'] }] }), req: http({ host: 'httpbin.foo:8000' }), want: true },
  { name: 'host suffix', policies: only({ to: [{ hosts: ['*.foo'] }] }), req: http(), want: true },
  { name: 'notHosts', policies: only({ to: [{ notHosts: ['*.foo'] }] }), req: http(), want: false },
  { name: 'port', policies: only({ to: [{ ports: [8080] }] }), req: http(), want: true },
  { name: 'port mismatch', policies: only({ to: [{ ports: [9090] }] }), req: http(), want: false },
  { name: 'notPorts', policies: only({ to: [{ notPorts: [8080] }] }), req: http(), want: false },
  { name: 'notPorts, other port', policies: only({ to: [{ notPorts: [9090] }] }), req: http(), want: true },

  // Conditions.
  { name: 'when source.ip', policies: only({ when: [{ key: 'source.ip', values: ['10.0.0.0/16'] }] }), req: http(), want: true },
  { name: 'when source.ip notValues', policies: only({ when: [{ key: 'source.ip', notValues: ['10.0.0.5'] }] }), req: http(), want: false },
  { name: 'when destination.ip', policies: only({ when: [{ key: 'destination.ip', values: ['10.1.0.0/24'] }] }), req: http(), want: true },
  { name: 'when destination.ip mismatch', policies: only({ when: [{ key: 'destination.ip', values: ['10.2.0.0/24'] }] }), req: http(), want: false },
  { name: 'when destination.port', policies: only({ when: [{ key: 'destination.port', values: ['80', '8080'] }] }), req: http(), want: true },
  { name: 'when destination.port notValues', policies: only({ when: [{ key: 'destination.port', notValues: ['8080'] }] }), req: http(), want: false },
  { name: 'when source.principal', policies: only({ when: [{ key: 'source.principal', values: ['*/sa/sleep'] }] }), req: http(), want: true },
  { name: 'when source.namespace', policies: only({ when: [{ key: 'source.namespace', values: ['ops'] }] }), req: http(), want: false },
  { name: 'when header, any name spelling', policies: only({ when: [{ key: 'request.headers[X-Env]', values: ['prod'] }] }), req: http({ headers: { 'x-env': 'prod' } }), want: true },
  { name: 'when header, caller spelling kept', policies: only({ when: [{ key: 'request.headers[x-env]', values: ['prod'] }] }), req: http({ headers: { 'X-Env': 'prod' } }), want: true },
  { name: 'when header value mismatch', policies: only({ when: [{ key: 'request.headers[x-env]', values: ['prod'] }] }), req: http({ headers: { 'x-env': 'dev' } }), want: false },
  { name: 'when header prefix', policies: only({ when: [{ key: 'request.headers[user-agent]', values: ['curl/*'] }] }), req: http({ headers: { 'user-agent': 'curl/8.1' } }), want: true },
  { name: 'when header absent', policies: only({ when: [{ key: 'request.headers[x-env]', values: ['*'] }] }), req: http(), want: false },
  { name: 'when header * = present, even empty', policies: only({ when: [{ key: 'request.headers[x-env]', values: ['*'] }] }), req: http({ headers: { 'x-env': '' } }), want: true },
  { name: 'when header notValues, header absent', policies: only({ when: [{ key: 'request.headers[x-env]', notValues: ['dev'] }] }), req: http(), want: true },
  { name: 'when connection.sni', policies: only({ when: [{ key: 'connection.sni', values: ['*.example.com'] }] }), req: http({ sni: 'api.example.com' }), want: true },
  { name: 'when connection.sni absent', policies: only({ when: [{ key: 'connection.sni', values: ['*'] }] }), req: http(), want: false },
  { name: 'values and notValues together', policies: only({ when: [{ key: 'source.ip', values: ['10.0.0.0/8'], notValues: ['10.0.0.5'] }] }), req: http(), want: false },
  { name: 'conditions are ANDed', policies: only({ when: [{ key: 'source.ip', values: ['10.0.0.0/8'] }, { key: 'destination.port', values: ['9090'] }] }), req: http(), want: false },
  { name: 'unknown key (hand-built) never holds', policies: only({ when: [{ key: 'request.auth.principal', values: ['*'] }] }), req: http(), want: false },

  // TCP: HTTP-only fields in ALLOW rules make the rule never match.
  { name: 'TCP: ALLOW with methods never matches', policies: only({ to: [{ methods: ['GET'], ports: [8080] }] }), req: tcp(), want: NO_MATCH },
  { name: 'TCP: ALLOW with ports only', policies: only({ to: [{ ports: [8080] }] }), req: tcp(), want: by(ALLOWED, 'foo/a') },
  { name: 'TCP: ALLOW from principals', policies: only({ from: [{ principals: [SLEEP] }] }), req: tcp(), want: true },
  { name: 'TCP: ALLOW, HTTP-only in another to entry spoils the rule', policies: only({ to: [{ ports: [8080] }, { paths: ['/x'] }] }), req: tcp(), want: false },
  { name: 'TCP: ALLOW, HTTP-only rule skipped, TCP rule matches', policies: [allow('a', { to: [{ paths: ['/x'] }] }, { to: [{ ports: [8080] }] })], req: tcp(), want: true },
  { name: 'TCP: ALLOW with notPaths never matches', policies: only({ to: [{ notPaths: ['/admin'] }] }), req: tcp(), want: false },
  { name: 'TCP: ALLOW with hosts never matches', policies: only({ to: [{ hosts: ['*'] }] }), req: tcp(), want: false },
  { name: 'TCP: ALLOW with a header condition never matches', policies: only({ when: [{ key: 'request.headers[x]', notValues: ['y'] }] }), req: tcp(), want: false },
  { name: 'TCP: ALLOW with connection.sni', policies: only({ when: [{ key: 'connection.sni', values: ['db.internal'] }] }), req: tcp({ sni: 'db.internal' }), want: true },
  { name: 'TCP: only HTTP-only ALLOW policies deny all TCP', policies: [allow('web', { to: [{ methods: ['GET'] }] })], req: tcp(), want: NO_MATCH },
  // TCP: HTTP-only fields in DENY and AUDIT rules are dropped, the rest still applies (wider).
  { name: 'TCP: DENY methods+ports denies the port', policies: [deny('d', { to: [{ methods: ['POST'], ports: [8080] }] })], req: tcp(), want: by(DENIED, 'foo/d') },
  { name: 'TCP: DENY methods+ports, other port', policies: [deny('d', { to: [{ methods: ['POST'], ports: [8080] }] })], req: tcp({ port: 9090 }), want: NO_POLICIES },
  { name: 'TCP: DENY methods only denies all TCP', policies: [deny('d', { to: [{ methods: ['POST'] }] })], req: tcp({ port: 5432 }), want: by(DENIED, 'foo/d') },
  { name: 'TCP: DENY notPaths dropped too', policies: [deny('d', { to: [{ notPaths: ['/public/*'] }] })], req: tcp(), want: false },
  { name: 'TCP: DENY keeps its source', policies: [deny('d', { from: [{ principals: [ADMIN] }], to: [{ methods: ['POST'] }] })], req: tcp(), want: NO_POLICIES },
  { name: 'TCP: DENY keeps its source (match)', policies: [deny('d', { from: [{ principals: [ADMIN] }], to: [{ methods: ['POST'] }] })], req: tcp({ principal: ADMIN }), want: false },
  { name: 'TCP: DENY header condition dropped', policies: [deny('d', { when: [{ key: 'request.headers[x-debug]', values: ['1'] }] })], req: tcp(), want: false },
  { name: 'TCP: AUDIT paths dropped', policies: [audit('log', { to: [{ paths: ['/admin/*'] }] })], req: tcp(), want: { ...NO_POLICIES, audited: true } },
  { name: 'HTTP: the same DENY only denies POST', policies: [deny('d', { to: [{ methods: ['POST'], ports: [8080] }] })], req: http(), want: NO_POLICIES },
  { name: 'HTTP: the same DENY denies POST', policies: [deny('d', { to: [{ methods: ['POST'], ports: [8080] }] })], req: http({ method: 'POST' }), want: false },
];

for (const c of CASES) {
  test(`authorize: ${c.name}`, () => {
    const got = compileAuthz(c.policies).authorize(c.req);
    if (typeof c.want === 'boolean') assert.equal(got.allowed, c.want, JSON.stringify(got));
    else assert.deepEqual(got, c.want);
  });
}

test('authorize() and compileAuthz agree, and the compiled form is reused for the same array', () => {
  const policies = Object.freeze([allow('a', { to: [{ methods: ['GET'] }] })]);
  for (const req of [http(), http({ method: 'PUT' }), tcp()]) {
    assert.deepEqual(authorize(req, policies), compileAuthz(policies).authorize(req));
  }
});

const web = { namespace: 'foo', labels: { app: 'web', version: 'v1' } };

test('policiesFor: namespace, root namespace and selectors', () => {
  const all: AuthzPolicy[] = [
    pol('ns-wide', 'ALLOW', [{}]),
    pol('web-only', 'DENY', [{}], { selector: { app: 'web' } }),
    pol('db-only', 'DENY', [{}], { selector: { app: 'db' } }),
    pol('web-v2', 'DENY', [{}], { selector: { app: 'web', version: 'v2' } }),
    pol('other-ns', 'DENY', [{}], { namespace: 'bar' }),
    pol('mesh', 'AUDIT', [{}], { namespace: 'istio-system' }),
    pol('mesh-web', 'DENY', [{}], { namespace: 'istio-system', selector: { app: 'web' } }),
    pol('mesh-db', 'DENY', [{}], { namespace: 'istio-system', selector: { app: 'db' } }),
    pol('empty-selector', 'AUDIT', [{}], { selector: {} }),
  ];
  const names = (w: { namespace: string; labels: Record<string, string> }, root?: string): string[] => policiesFor(w, all, root).map((p) => `${p.namespace}/${p.name}`);
  assert.deepEqual(names(web), ['istio-system/mesh', 'istio-system/mesh-web', 'foo/ns-wide', 'foo/web-only', 'foo/empty-selector']);
  assert.deepEqual(names({ namespace: 'bar', labels: { app: 'db' } }), ['istio-system/mesh', 'istio-system/mesh-db', 'bar/other-ns']);
  assert.deepEqual(names({ namespace: 'istio-system', labels: {} }), ['istio-system/mesh']);
  assert.deepEqual(names({ namespace: 'baz', labels: {} }, 'foo'), ['foo/ns-wide', 'foo/empty-selector']);
});

test('MeshAuthz: per-workload matchers are built once and decide like policiesFor + compileAuthz', () => {
  const all = [pol('deny-web-post', 'DENY', [{ to: [{ methods: ['POST'] }] }], { selector: { app: 'web' } }), pol('allow-sleep', 'ALLOW', [{ from: [{ principals: [SLEEP] }] }])];
  const mesh = new MeshAuthz(all);
  const m = mesh.forWorkload(web);
  assert.equal(mesh.forWorkload({ namespace: 'foo', labels: { version: 'v1', app: 'web' } }), m);
  assert.notEqual(mesh.forWorkload({ namespace: 'foo', labels: { app: 'db' } }), m);
  assert.deepEqual(mesh.authorize(web, http({ method: 'POST' })), by(DENIED, 'foo/deny-web-post'));
  assert.deepEqual(mesh.authorize({ namespace: 'foo', labels: { app: 'db' } }, http({ method: 'POST' })), by(ALLOWED, 'foo/allow-sleep'));
  assert.deepEqual(mesh.authorize(web, http({ principal: ADMIN })), NO_MATCH);
  assert.deepEqual(mesh.authorize({ namespace: 'bar', labels: {} }, http({ principal: ADMIN })), NO_POLICIES);
  // A config's (frozen) workload is remembered by identity; a mutable one is looked up by its labels each time.
  const frozen = Object.freeze({ namespace: 'foo', labels: Object.freeze({ app: 'web' }) });
  assert.equal(mesh.forWorkload(frozen), mesh.forWorkload(frozen));
  const mutable = { namespace: 'foo', labels: { app: 'web' } as Record<string, string> };
  assert.equal(mesh.forWorkload(mutable), mesh.forWorkload(frozen));
  mutable.labels = { app: 'db' };
  assert.deepEqual(mesh.authorize(mutable, http({ method: 'POST' })), by(ALLOWED, 'foo/allow-sleep'), 'relabelled: the db matcher, not the remembered web one');
});

test('policies loaded from YAML decide as Istio documents them', () => {
  const ap = (name: string, spec: Record<string, unknown>, namespace = 'foo'): Record<string, unknown> => ({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace },
    spec,
  });
  const config = mustLoad(
    docs(
      ap('httpbin', {
        action: 'ALLOW',
        rules: [
          {
            from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }, { source: { namespaces: ['test'] } }],
            to: [{ operation: { methods: ['GET'], paths: ['/info*'] } }, { operation: { methods: ['POST'], paths: ['/data'] } }],
          },
        ],
      }),
      ap('deny-dev-post', { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['dev'] } }], to: [{ operation: { methods: ['POST'] } }] }] }),
      ap('mesh-deny-8081', { action: 'DENY', rules: [{ to: [{ operation: { ports: ['8081'] } }] }] }, 'istio-system'),
    ),
  );
  const mesh = new MeshAuthz(config.authorizationPolicies);
  const w = { namespace: 'foo', labels: {} };
  const decide = (req: AuthzRequest): string => {
    const d = mesh.authorize(w, req);
    return `${d.allowed ? 'allow' : 'deny'} ${d.reason} ${d.policy ?? '-'}`;
  };
  assert.equal(decide(http({ path: '/info/x' })), 'allow allowed foo/httpbin');
  assert.equal(decide(http({ method: 'POST', path: '/data' })), 'allow allowed foo/httpbin');
  assert.equal(decide(http({ method: 'POST', path: '/info' })), 'deny no-allow-match -');
  assert.equal(decide(http({ principal: 'cluster.local/ns/test/sa/x' })), 'allow allowed foo/httpbin');
  assert.equal(decide(http({ principal: 'cluster.local/ns/dev/sa/x', method: 'POST', path: '/data' })), 'deny deny-policy foo/deny-dev-post');
  assert.equal(decide(http({ port: 8081 })), 'deny deny-policy istio-system/mesh-deny-8081');
  assert.equal(decide(tcp()), 'deny no-allow-match -');
});

test('decisions are fast enough for per-request use: compiled once, not per call', () => {
  const policies = Array.from({ length: 50 }, (_, i) =>
    allow(`p${i}`, { from: [{ principals: [`cluster.local/ns/ns${i}/sa/*`], ipBlocks: ['10.0.0.0/8'] }], to: [{ paths: [`/svc${i}/*`], methods: ['GET', 'POST'] }] }),
  );
  policies.push(deny('d', { when: [{ key: 'request.headers[x-block]', values: ['*'] }] }));
  const m = compileAuthz(policies);
  // The worst case: every ALLOW policy is tried before the last one matches.
  const req = http({ principal: 'cluster.local/ns/ns49/sa/app', path: '/svc49/items?x=1', headers: { 'x-other': '1' } });
  assert.deepEqual(m.authorize(req), by(ALLOWED, 'foo/p49'));
  const perCall = (f: () => void, n: number): number => {
    f();
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    return Number(process.hrtime.bigint() - start) / n;
  };
  const decide = perCall(() => m.authorize(req), 20_000);
  const compileAndDecide = perCall(() => compileAuthz(policies).authorize(req), 1_000);
  // Relative, so that a loaded machine slows both alike; the absolute bound only catches the pathological.
  assert.ok(decide * 4 < compileAndDecide, `decide ${decide.toFixed(0)} ns, compile+decide ${compileAndDecide.toFixed(0)} ns`);
  assert.ok(decide < 200_000, `${decide.toFixed(0)} ns per decision`);
});
