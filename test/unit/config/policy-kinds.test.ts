// Node, PeerAuthentication and AuthorizationPolicy documents: every bad input names its field and says
// what is wrong; good inputs build the documented model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigIssue } from '../../../src/config/model';
import { docs, loadText, mustLoad, workloadEntry } from './helpers';

type Obj = Record<string, unknown>;

const authz = (name: string, spec: Obj | undefined, meta: Obj = {}, version = 'v1'): Obj => ({
  apiVersion: `security.istio.io/${version}`,
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace: 'foo', ...meta },
  ...(spec !== undefined ? { spec } : {}),
});
const peer = (name: string, spec: Obj | undefined, meta: Obj = {}, version = 'v1'): Obj => ({
  apiVersion: `security.istio.io/${version}`,
  kind: 'PeerAuthentication',
  metadata: { name, namespace: 'foo', ...meta },
  ...(spec !== undefined ? { spec } : {}),
});
const node = (name: string, spec: Obj | undefined, meta: Obj = {}): Obj => ({
  apiVersion: 'nodemesh.io/v1alpha1',
  kind: 'Node',
  metadata: { name, ...meta },
  ...(spec !== undefined ? { spec } : {}),
});

/** An ALLOW policy with one rule whose from/to/when are FIELDS. */
const rule = (fields: Obj): string => docs(authz('p', { rules: [fields] }));
const source = (s: Obj): string => rule({ from: [{ source: s }] });
const operation = (o: Obj): string => rule({ to: [{ operation: o }] });
const when = (...conditions: Obj[]): string => rule({ when: conditions });

interface BadCase {
  readonly name: string;
  readonly yaml: string;
  readonly field: string;
  readonly message: string;
  readonly document?: number;
}

const R0 = 'spec.rules[0]';
const SRC = `${R0}.from[0].source`;
const OP = `${R0}.to[0].operation`;
const W0 = `${R0}.when[0]`;

const AUTHZ_CASES: readonly BadCase[] = [
  { name: 'unknown spec field', yaml: docs(authz('p', { rule: [] })), field: 'spec.rule', message: 'unknown field (did you mean "rules"?)' },
  { name: 'targetRef', yaml: docs(authz('p', { targetRef: { kind: 'Gateway', name: 'gw' } })), field: 'spec.targetRef', message: 'not supported yet' },
  { name: 'targetRefs', yaml: docs(authz('p', { targetRefs: [{ kind: 'Service', name: 's' }] })), field: 'spec.targetRefs', message: 'not supported yet' },
  { name: 'provider', yaml: docs(authz('p', { action: 'CUSTOM', provider: { name: 'ext' }, rules: [{}] })), field: 'spec.provider', message: 'not supported yet' },
  { name: 'CUSTOM action', yaml: docs(authz('p', { action: 'CUSTOM', rules: [{}] })), field: 'spec.action', message: 'action CUSTOM (external authorization) is not supported yet' },
  { name: 'made-up action', yaml: docs(authz('p', { action: 'REJECT' })), field: 'spec.action', message: 'must be one of ALLOW, DENY, AUDIT, CUSTOM, got "REJECT"' },
  { name: 'DENY without rules', yaml: docs(authz('p', { action: 'DENY' })), field: 'spec.rules', message: 'a DENY policy without rules never matches (add an empty rule {}' },
  { name: 'DENY with rules: []', yaml: docs(authz('p', { action: 'DENY', rules: [] })), field: 'spec.rules', message: 'DENY policy without rules' },
  { name: 'rules not a list', yaml: docs(authz('p', { rules: {} })), field: 'spec.rules', message: 'must be a list' },
  { name: 'rule is null', yaml: docs(authz('p', { rules: [null] })), field: R0, message: 'must be a mapping, got nothing' },
  { name: 'unknown rule field', yaml: rule({ form: [] }), field: `${R0}.form`, message: 'did you mean "from"' },
  { name: 'from: []', yaml: rule({ from: [] }), field: `${R0}.from`, message: 'must not be empty (leave from out to match any source)' },
  { name: 'to: []', yaml: rule({ to: [] }), field: `${R0}.to`, message: 'must not be empty (leave to out to match any operation)' },
  { name: 'from without source', yaml: rule({ from: [{}] }), field: SRC, message: 'required field is missing' },
  { name: 'empty source', yaml: source({}), field: SRC, message: 'must set at least one field' },
  { name: 'source with only empty lists', yaml: source({ principals: [] }), field: SRC, message: 'must set at least one field' },
  { name: 'unknown source field', yaml: source({ principal: ['x'] }), field: `${SRC}.principal`, message: 'did you mean "principals"' },
  { name: 'principal with scheme', yaml: source({ principals: ['spiffe://cluster.local/ns/a/sa/b'] }), field: `${SRC}.principals[0]`, message: 'without the spiffe:// scheme' },
  { name: 'principal star inside', yaml: source({ principals: ['cluster.local/ns/*/sa/x'] }), field: `${SRC}.principals[0]`, message: '"*" may only be the whole value, or its first or last character' },
  { name: 'principal two stars', yaml: source({ principals: ['*/ns/foo/*'] }), field: `${SRC}.principals[0]`, message: '"*" may only be' },
  { name: 'principal empty', yaml: source({ principals: [''] }), field: `${SRC}.principals[0]`, message: 'must not be empty' },
  { name: 'principal not a string', yaml: source({ principals: [7] }), field: `${SRC}.principals[0]`, message: 'must be a string, got number 7' },
  { name: 'namespace upper case', yaml: source({ namespaces: ['Foo'] }), field: `${SRC}.namespaces[0]`, message: '"Foo" is not a namespace' },
  { name: 'notNamespaces star inside', yaml: source({ notNamespaces: ['a*b'] }), field: `${SRC}.notNamespaces[0]`, message: '"*" may only be' },
  { name: 'CIDR prefix too long', yaml: source({ ipBlocks: ['10.0.0.0/33'] }), field: `${SRC}.ipBlocks[0]`, message: '"10.0.0.0/33" is not an IPv4 address or CIDR' },
  { name: 'IPv6 block', yaml: source({ ipBlocks: ['10.0.0.0/8', '::1'] }), field: `${SRC}.ipBlocks[1]`, message: 'is not an IPv4 address or CIDR' },
  { name: 'bad notIpBlocks address', yaml: source({ notIpBlocks: ['10.0.0.300'] }), field: `${SRC}.notIpBlocks[0]`, message: 'not an IPv4 address or CIDR' },
  { name: 'to without operation', yaml: rule({ to: [{}] }), field: OP, message: 'required field is missing' },
  { name: 'empty operation', yaml: operation({}), field: OP, message: 'must set at least one field (leave the operation out' },
  { name: 'unknown operation field', yaml: operation({ method: ['GET'] }), field: `${OP}.method`, message: 'did you mean "methods"' },
  { name: 'port 0', yaml: operation({ ports: ['0'] }), field: `${OP}.ports[0]`, message: '"0" is not a port' },
  { name: 'port too large', yaml: operation({ notPorts: ['65536'] }), field: `${OP}.notPorts[0]`, message: '"65536" is not a port' },
  { name: 'port as a number', yaml: operation({ ports: [8080] }), field: `${OP}.ports[0]`, message: 'must be a string, got number 8080' },
  { name: 'port with leading zero', yaml: operation({ ports: ['080'] }), field: `${OP}.ports[0]`, message: 'is not a port' },
  { name: 'method with a space', yaml: operation({ methods: ['GE T'] }), field: `${OP}.methods[0]`, message: '"GE T" is not an HTTP method' },
  { name: 'method with an inner star', yaml: operation({ notMethods: ['P*O'] }), field: `${OP}.notMethods[0]`, message: '"*" may only be' },
  { name: 'relative path', yaml: operation({ paths: ['admin'] }), field: `${OP}.paths[0]`, message: '"admin" must start with "/"' },
  { name: 'path template, {**} not last', yaml: operation({ notPaths: ['/a/{**}/{*}'] }), field: `${OP}.notPaths[0]`, message: '{**} must be the last operator' },
  { name: 'host star inside', yaml: operation({ hosts: ['a*.example.com*'] }), field: `${OP}.hosts[0]`, message: '"*" may only be' },
  { name: 'empty host', yaml: operation({ notHosts: [''] }), field: `${OP}.notHosts[0]`, message: 'must not be empty' },
  { name: 'when without key', yaml: when({ values: ['x'] }), field: `${W0}.key`, message: 'required field is missing' },
  { name: 'when without values', yaml: when({ key: 'source.ip' }), field: W0, message: 'must set values or notValues' },
  { name: 'when with empty values', yaml: when({ key: 'source.ip', values: [], notValues: [] }), field: W0, message: 'must set values or notValues' },
  { name: 'unknown when field', yaml: when({ key: 'source.ip', value: ['1.2.3.4'] }), field: `${W0}.value`, message: 'did you mean "values"' },
  {
    name: 'unknown attribute',
    yaml: when({ key: 'source.user', values: ['x'] }),
    field: `${W0}.key`,
    message: 'unknown attribute "source.user" (supported: source.ip, source.namespace, source.principal, destination.ip, destination.port, request.headers[<name>], connection.sni, remote.ip, request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[<name>])',
  },
  { name: 'bad claim key', yaml: when({ key: 'request.auth.claims[]', values: ['x'] }), field: `${W0}.key`, message: 'is not a claim key' },
  { name: 'bad remote.ip value', yaml: when({ key: 'remote.ip', values: ['nope'] }), field: `${W0}.values[0]`, message: 'not an IPv4 address or CIDR' },
  { name: 'bad remoteIpBlocks', yaml: source({ remoteIpBlocks: ['1.2.3.4/99'] }), field: `${SRC}.remoteIpBlocks[0]`, message: 'not an IPv4 address or CIDR' },
  { name: 'bad requestPrincipals', yaml: source({ requestPrincipals: ['a*b'] }), field: `${SRC}.requestPrincipals[0]`, message: 'may only be the whole value' },
  { name: 'destination.labels attribute', yaml: when({ key: 'destination.labels[app]', values: ['x'] }), field: `${W0}.key`, message: 'unknown attribute' },
  { name: 'empty header name', yaml: when({ key: 'request.headers[]', values: ['x'] }), field: `${W0}.key`, message: 'is not a valid header name' },
  { name: 'bad source.ip value', yaml: when({ key: 'source.ip', values: ['nope'] }), field: `${W0}.values[0]`, message: '"nope" is not an IPv4 address or CIDR' },
  { name: 'bad destination.ip value', yaml: when({ key: 'destination.ip', notValues: ['1.2.3.4/40'] }), field: `${W0}.notValues[0]`, message: 'not an IPv4 address or CIDR' },
  { name: 'bad destination.port value', yaml: when({ key: 'destination.port', notValues: ['http'] }), field: `${W0}.notValues[0]`, message: '"http" is not a port' },
  { name: 'bad source.namespace value', yaml: when({ key: 'source.namespace', values: ['a.b'] }), field: `${W0}.values[0]`, message: 'is not a namespace' },
  { name: 'bad header value', yaml: when({ key: 'request.headers[accept]', values: ['*/*'] }), field: `${W0}.values[0]`, message: '"*" may only be' },
  { name: 'selector wildcard', yaml: docs(authz('p', { selector: { matchLabels: { app: 'web*' } } })), field: 'spec.selector.matchLabels.app', message: 'wildcards are not supported in selectors' },
  { name: 'selector labels field', yaml: docs(authz('p', { selector: { labels: { app: 'web' } } })), field: 'spec.selector.labels', message: 'unknown field' },
  { name: 'selector value not a string', yaml: docs(authz('p', { selector: { matchLabels: { v: 1 } } })), field: 'spec.selector.matchLabels.v', message: 'must be a string' },
  { name: 'wrong version', yaml: docs(authz('p', {}, {}, 'v1alpha1')), field: 'apiVersion', message: 'unknown version "v1alpha1" of security.istio.io (known: v1, v1beta1)' },
];

const PEER_CASES: readonly BadCase[] = [
  { name: 'bad mode', yaml: docs(peer('p', { mtls: { mode: 'STRICTER' } })), field: 'spec.mtls.mode', message: 'must be one of UNSET, PERMISSIVE, STRICT, DISABLE, got "STRICTER"' },
  { name: 'unknown mtls field', yaml: docs(peer('p', { mtls: { mod: 'STRICT' } })), field: 'spec.mtls.mod', message: 'did you mean "mode"' },
  { name: 'unknown spec field', yaml: docs(peer('p', { mTLS: { mode: 'STRICT' } })), field: 'spec.mTLS', message: 'did you mean "mtls"' },
  { name: 'mtls not a mapping', yaml: docs(peer('p', { mtls: 'STRICT' })), field: 'spec.mtls', message: 'must be a mapping' },
  { name: 'portLevelMtls without selector', yaml: docs(peer('p', { portLevelMtls: { 8080: { mode: 'DISABLE' } } })), field: 'spec.portLevelMtls', message: 'requires spec.selector' },
  {
    name: 'portLevelMtls with an empty selector',
    yaml: docs(peer('p', { selector: { matchLabels: {} }, portLevelMtls: { 8080: { mode: 'DISABLE' } } })),
    field: 'spec.portLevelMtls',
    message: 'requires spec.selector',
  },
  { name: 'empty portLevelMtls', yaml: docs(peer('p', { selector: { matchLabels: { app: 'a' } }, portLevelMtls: {} })), field: 'spec.portLevelMtls', message: 'must name at least one port' },
  { name: 'portLevelMtls a list', yaml: docs(peer('p', { selector: { matchLabels: { app: 'a' } }, portLevelMtls: [] })), field: 'spec.portLevelMtls', message: 'must be a mapping of port numbers to {mode}' },
  { name: 'port named', yaml: docs(peer('p', { selector: { matchLabels: { app: 'a' } }, portLevelMtls: { http: { mode: 'STRICT' } } })), field: 'spec.portLevelMtls.http', message: '"http" is not a port number' },
  { name: 'port 0', yaml: docs(peer('p', { selector: { matchLabels: { app: 'a' } }, portLevelMtls: { 0: { mode: 'STRICT' } } })), field: 'spec.portLevelMtls["0"]', message: 'is not a port number' },
  { name: 'port too large', yaml: docs(peer('p', { selector: { matchLabels: { app: 'a' } }, portLevelMtls: { 70000: { mode: 'STRICT' } } })), field: 'spec.portLevelMtls["70000"]', message: 'is not a port number' },
  { name: 'port-level bad mode', yaml: docs(peer('p', { selector: { matchLabels: { app: 'a' } }, portLevelMtls: { 8080: { mode: 'OFF' } } })), field: 'spec.portLevelMtls["8080"].mode', message: 'must be one of' },
  { name: 'port-level unknown field', yaml: docs(peer('p', { selector: { matchLabels: { app: 'a' } }, portLevelMtls: { 8080: { mtls: 'STRICT' } } })), field: 'spec.portLevelMtls["8080"].mtls', message: 'unknown field' },
  { name: 'selector empty key', yaml: docs(peer('p', { selector: { matchLabels: { '': 'x' } } })), field: 'spec.selector.matchLabels[""]', message: 'empty label key' },
  {
    name: 'two mesh-wide policies',
    yaml: docs(peer('a', { mtls: { mode: 'STRICT' } }, { namespace: 'istio-system' }), peer('b', {}, { namespace: 'istio-system' })),
    field: 'metadata.name',
    message: 'a second mesh-wide PeerAuthentication: PeerAuthentication istio-system/a (mesh.yaml document 0) is one already',
    document: 1,
  },
  {
    name: 'two namespace-wide policies',
    yaml: docs(peer('a', {}), peer('b', { mtls: { mode: 'DISABLE' } }, {}, 'v1beta1')),
    field: 'metadata.name',
    message: 'a second namespace-wide (namespace foo) PeerAuthentication: PeerAuthentication foo/a (mesh.yaml document 0)',
    document: 1,
  },
  { name: 'duplicate names across versions', yaml: docs(peer('a', {}), peer('a', {}, {}, 'v1beta1')), field: 'metadata.name', message: 'duplicate PeerAuthentication foo/a', document: 1 },
];

const NODE_CASES: readonly BadCase[] = [
  { name: 'spec missing', yaml: docs(node('node-a', undefined)), field: 'spec', message: 'required field is missing' },
  { name: 'addresses missing', yaml: docs(node('node-a', {})), field: 'spec.addresses', message: 'required field is missing' },
  { name: 'addresses empty', yaml: docs(node('node-a', { addresses: [] })), field: 'spec.addresses', message: 'must not be empty' },
  { name: 'address not IPv4', yaml: docs(node('node-a', { addresses: ['10.0.0'] })), field: 'spec.addresses[0]', message: 'must be an IPv4 address, got string "10.0.0"' },
  { name: 'address is a CIDR', yaml: docs(node('node-a', { addresses: ['10.0.0.1/32'] })), field: 'spec.addresses[0]', message: 'must be an IPv4 address' },
  { name: 'address a number', yaml: docs(node('node-a', { addresses: [10] })), field: 'spec.addresses[0]', message: 'got number 10' },
  { name: 'duplicate address', yaml: docs(node('node-a', { addresses: ['10.0.0.1', '10.0.0.1'] })), field: 'spec.addresses[1]', message: 'duplicate address 10.0.0.1' },
  { name: 'unknown spec field', yaml: docs(node('node-a', { address: ['10.0.0.1'] })), field: 'spec.address', message: 'did you mean "addresses"' },
  { name: 'namespaced', yaml: docs(node('node-a', { addresses: ['10.0.0.1'] }, { namespace: 'default' })), field: 'metadata.namespace', message: 'Node is cluster-scoped' },
  { name: 'bad name', yaml: docs(node('Node_A', { addresses: ['10.0.0.1'] })), field: 'metadata.name', message: 'not a valid name' },
  { name: 'wrong version', yaml: docs({ ...node('node-a', { addresses: ['10.0.0.1'] }), apiVersion: 'nodemesh.io/v1' }), field: 'apiVersion', message: 'unknown version "v1" of nodemesh.io' },
  {
    name: 'duplicate node names',
    yaml: docs(node('node-a', { addresses: ['10.0.0.1'] }), node('node-a', { addresses: ['10.0.0.2'] })),
    field: 'metadata.name',
    message: 'duplicate Node node-a, already defined in mesh.yaml document 0',
    document: 1,
  },
  {
    name: 'two nodes, one address',
    yaml: docs(node('node-a', { addresses: ['10.0.0.1'] }), node('node-b', { addresses: ['10.0.0.9', '10.0.0.1'] })),
    field: 'spec.addresses[1]',
    message: 'address 10.0.0.1 is also used by Node node-a (mesh.yaml document 0)',
    document: 1,
  },
];

function describeIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `  [doc ${i.document}] ${i.field ?? '-'}: ${i.message}`).join('\n');
}

for (const [kind, cases] of [['AuthorizationPolicy', AUTHZ_CASES], ['PeerAuthentication', PEER_CASES], ['Node', NODE_CASES]] as const) {
  for (const c of cases) {
    test(`${kind} rejects: ${c.name}`, () => {
      const r = loadText(c.yaml);
      assert.equal(r.ok, false, 'expected the config to be rejected');
      if (r.ok) return;
      const match = r.issues.find((i) => i.field === c.field && i.message.includes(c.message) && (c.document === undefined || i.document === c.document));
      assert.ok(match, `no issue at ${c.field} with "${c.message}" in:\n${describeIssues(r.issues)}`);
    });
  }
}

test('every problem of a policy is reported together, with the kind and namespace/name', () => {
  const r = loadText(rule({ from: [{ source: { principals: ['spiffe://nope'], ipBlocks: ['x'] } }], to: [{ operation: { ports: ['0'] } }], when: [{ key: 'bad' }] }));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.issues.map((i) => i.field),
    [`${SRC}.principals[0]`, `${SRC}.ipBlocks[0]`, `${OP}.ports[0]`, `${W0}.key`, W0],
  );
  assert.ok(r.issues.every((i) => i.kind === 'AuthorizationPolicy' && i.name === 'foo/p'));
});

test('Node issues carry the bare node name (Nodes are cluster-scoped)', () => {
  const r = loadText(docs(node('node-a', { addresses: ['x'] })));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.issues[0]?.name, 'node-a');
});

test('AuthorizationPolicy: a full policy builds the model; ports become numbers; empty lists are dropped', () => {
  const c = mustLoad(
    docs(
      authz('httpbin', {
        selector: { matchLabels: { app: 'httpbin' } },
        action: 'ALLOW',
        rules: [
          {
            from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep', 'cluster.local/ns/*'], notNamespaces: [] } }, { source: { namespaces: ['test'], ipBlocks: ['10.0.0.0/8'] } }],
            to: [{ operation: { methods: ['GET'], paths: ['/info*', '*.html'], ports: ['8080'], notHosts: ['*.internal'] } }],
            when: [
              { key: 'request.headers[X-Env]', values: ['prod'] },
              { key: 'destination.port', notValues: ['9090'] },
            ],
          },
        ],
      }),
    ),
  );
  assert.deepEqual(c.authorizationPolicies, [
    {
      name: 'httpbin',
      namespace: 'foo',
      selector: { app: 'httpbin' },
      action: 'ALLOW',
      rules: [
        {
          from: [{ principals: ['cluster.local/ns/default/sa/sleep', 'cluster.local/ns/*'] }, { namespaces: ['test'], ipBlocks: ['10.0.0.0/8'] }],
          to: [{ notHosts: ['*.internal'], ports: [8080], methods: ['GET'], paths: ['/info*', '*.html'] }],
          when: [
            { key: 'request.headers[X-Env]', values: ['prod'] },
            { key: 'destination.port', notValues: ['9090'] },
          ],
        },
      ],
    },
  ]);
  assert.ok(Object.isFrozen(c.authorizationPolicies[0]?.rules[0]?.from?.[0]?.principals));
});

test('AuthorizationPolicy: empty and absent forms, as in Istio', () => {
  const c = mustLoad(
    docs(
      authz('allow-nothing', {}),
      authz('no-spec', undefined),
      authz('allow-all', { rules: [{}] }),
      authz('deny-all', { action: 'DENY', rules: [{}] }),
      authz('audit-nothing', { action: 'AUDIT' }, {}, 'v1beta1'),
      authz('lower-case-action', { action: 'deny', rules: [{}], selector: { matchLabels: {} } }),
    ),
  );
  const summary = c.authorizationPolicies.map((p) => [p.name, p.action, p.rules.length, p.selector]);
  assert.deepEqual(summary, [
    ['allow-all', 'ALLOW', 1, undefined],
    ['allow-nothing', 'ALLOW', 0, undefined],
    ['audit-nothing', 'AUDIT', 0, undefined],
    ['deny-all', 'DENY', 1, undefined],
    ['lower-case-action', 'DENY', 1, undefined],
    ['no-spec', 'ALLOW', 0, undefined],
  ]);
  assert.deepEqual(c.authorizationPolicies[0]?.rules, [{}]);
});

test('AuthorizationPolicy: principals of any shape are accepted, as in Istio', () => {
  const ok = ['*', 'cluster.local/ns/foo/sa/bar', 'cluster.local/*', 'cluster.local/ns/foo/*', 'cluster.local/ns/foo/sa/ba*', '*/ns/foo/sa/bar', '*/sa/bar', '*bar', 'td.example_1/ns/a-b/sa/c.d'];
  const other = ['principal', 'cluster.local/ns/foo', 'cluster.local/namespace/a/sa/b', 'cluster.local/sa/*', 'cluster.local/ns/Foo/sa/b', 'example.org/workload/*'];
  assert.deepEqual(mustLoad(source({ principals: [...ok, ...other] })).authorizationPolicies[0]?.rules[0]?.from?.[0]?.principals, [...ok, ...other]);
  assert.ok(mustLoad(when({ key: 'source.principal', values: ['foo', '*-suffix'] })).authorizationPolicies.length === 1);
  const c = mustLoad(source({ principals: ok }));
  assert.deepEqual(c.authorizationPolicies[0]?.rules[0]?.from?.[0]?.principals, ok);
});

test('AuthorizationPolicy: every supported when key loads', () => {
  const c = mustLoad(
    when(
      { key: 'source.ip', values: ['10.0.0.1', '10.1.0.0/16'] },
      { key: 'source.namespace', notValues: ['kube-*'] },
      { key: 'source.principal', values: ['*'] },
      { key: 'destination.ip', values: ['10.2.0.0/16'] },
      { key: 'destination.port', values: ['80', '443'] },
      { key: 'request.headers[x-token]', values: ['*'] },
      { key: 'connection.sni', values: ['*.example.com'] },
    ),
  );
  assert.equal(c.authorizationPolicies[0]?.rules[0]?.when?.length, 7);
});

test('PeerAuthentication: modes, defaults and port-level settings', () => {
  const c = mustLoad(
    docs(
      peer('mesh', { mtls: { mode: 'STRICT' } }, { namespace: 'istio-system' }),
      peer('ns', undefined),
      peer('web', { selector: { matchLabels: { app: 'web' } }, mtls: {}, portLevelMtls: { 8080: { mode: 'DISABLE' }, '9090': {} } }, {}, 'v1beta1'),
    ),
  );
  assert.deepEqual(c.peerAuthentications, [
    { name: 'ns', namespace: 'foo', selector: undefined, mode: 'UNSET', portLevel: {} },
    { name: 'web', namespace: 'foo', selector: { app: 'web' }, mode: 'UNSET', portLevel: { '8080': 'DISABLE', '9090': 'UNSET' } },
    { name: 'mesh', namespace: 'istio-system', selector: undefined, mode: 'STRICT', portLevel: {} },
  ]);
});

test('PeerAuthentication: one namespace-wide policy per namespace is fine; root-namespace selectors get a warning', () => {
  const r = loadText(
    docs(peer('a', {}), peer('a', {}, { namespace: 'bar' }), peer('gw', { selector: { matchLabels: { app: 'gw' } } }, { namespace: 'istio-system' })),
  );
  assert.ok(r.ok, r.ok ? '' : describeIssues(r.issues));
  assert.deepEqual(
    r.warnings.map((w) => [w.document, w.field, w.message]),
    [[2, 'spec.selector', 'has no effect: Istio ignores PeerAuthentications with a selector in the root namespace istio-system']],
  );
});

test('Node: addresses in order, nodes sorted by name, and workloads on undescribed nodes warned about', () => {
  const onNode = (name: string, host: string, address: string): Obj => workloadEntry(name, { address, labels: { 'kubernetes.io/hostname': host } });
  const r = loadText(
    docs(
      node('node-b', { addresses: ['10.0.0.2', '192.168.0.2'] }),
      node('node-a', { addresses: ['10.0.0.1'] }),
      onNode('w1', 'node-a', '10.1.0.1'),
      onNode('w2', 'node-c', '10.1.0.2'),
      workloadEntry('w3', { address: '10.1.0.3' }),
    ),
  );
  assert.ok(r.ok, r.ok ? '' : describeIssues(r.issues));
  assert.deepEqual(r.config.nodes, [
    { name: 'node-a', addresses: ['10.0.0.1'] },
    { name: 'node-b', addresses: ['10.0.0.2', '192.168.0.2'] },
  ]);
  assert.deepEqual(
    r.warnings.map((w) => [w.document, w.kind, w.name, w.message]),
    [[3, 'WorkloadEntry', 'default/w2', 'no Node document describes node "node-c" (label kubernetes.io/hostname): peers cannot reach its agent']],
  );
});

test('Node: without any Node document, workload nodes are not checked', () => {
  const r = loadText(docs(workloadEntry('w', { address: '10.1.0.1', labels: { 'kubernetes.io/hostname': 'node-z' } })));
  assert.ok(r.ok);
  assert.deepEqual(r.warnings, []);
  assert.deepEqual(r.config.nodes, []);
  assert.deepEqual(r.config.peerAuthentications, []);
  assert.deepEqual(r.config.authorizationPolicies, []);
});

test('policies inside a kind: List load with items[N] paths', () => {
  const r = loadText(docs({ apiVersion: 'v1', kind: 'List', items: [authz('ok', {}), authz('bad', { action: 'DENY' })] }));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.issues.map((i) => [i.field, i.name]),
    [['items[1].spec.rules', 'foo/bad']],
  );
});
