import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authorizeCsr, type AuthorizeInput, type TopologyWorkload } from '../../../src/ca/authz';

const TD = 'cluster.local';
const WORKLOADS: TopologyWorkload[] = [
  { namespace: 'shop', serviceAccount: 'cart', node: 'node-a' },
  { namespace: 'shop', node: 'node-a' }, // runs as sa "default"
  { namespace: 'shop', serviceAccount: 'pay', node: 'node-b' },
  { namespace: 'shop', serviceAccount: 'orphan', node: undefined },
];
const id = (ns: string, sa: string, td = TD): string => `spiffe://${td}/ns/${ns}/sa/${sa}`;

test('authorizeCsr: table', () => {
  const cases: { name: string; in: Partial<AuthorizeInput> & Pick<AuthorizeInput, 'requested'>; want: 'ok' | 'INVALID_ARGUMENT' | 'PERMISSION_DENIED'; match?: RegExp }[] = [
    { name: 'own workload', in: { requested: { uriSans: [id('shop', 'cart')] } }, want: 'ok' },
    { name: 'default service account', in: { requested: { uriSans: [id('shop', 'default')] } }, want: 'ok' },
    { name: 'impersonation matching the CSR', in: { requested: { uriSans: [id('shop', 'cart')], impersonatedIdentity: id('shop', 'cart') } }, want: 'ok' },
    { name: 'workload on another node', in: { requested: { uriSans: [id('shop', 'pay')] } }, want: 'PERMISSION_DENIED', match: /node-a/ },
    { name: 'same identity allowed for its own node', in: { callerNode: 'node-b', requested: { uriSans: [id('shop', 'pay')] } }, want: 'ok' },
    { name: 'workload with no node', in: { requested: { uriSans: [id('shop', 'orphan')] } }, want: 'PERMISSION_DENIED' },
    { name: 'unknown identity', in: { requested: { uriSans: [id('other', 'x')] } }, want: 'PERMISSION_DENIED' },
    { name: 'wrong trust domain', in: { requested: { uriSans: [id('shop', 'cart', 'evil.example')] } }, want: 'PERMISSION_DENIED', match: /trust domain/ },
    { name: 'impersonation differing from the CSR', in: { requested: { uriSans: [id('shop', 'cart')], impersonatedIdentity: id('shop', 'pay') } }, want: 'PERMISSION_DENIED', match: /does not match/ },
    { name: 'impersonation not a string', in: { requested: { uriSans: [id('shop', 'cart')], impersonatedIdentity: null } }, want: 'INVALID_ARGUMENT' },
    { name: 'no URI SAN', in: { requested: { uriSans: [] } }, want: 'INVALID_ARGUMENT', match: /no URI SAN/ },
    { name: 'two URI SANs (even both allowed)', in: { requested: { uriSans: [id('shop', 'cart'), id('shop', 'default')] } }, want: 'INVALID_ARGUMENT', match: /2 URI SANs/ },
    { name: 'not a SPIFFE id', in: { requested: { uriSans: ['https://shop.example/cart'] } }, want: 'INVALID_ARGUMENT' },
    { name: 'principal form is not a URI SAN', in: { requested: { uriSans: ['cluster.local/ns/shop/sa/cart'] } }, want: 'INVALID_ARGUMENT' },
    { name: 'caller without node', in: { callerNode: '', requested: { uriSans: [id('shop', 'cart')] } }, want: 'PERMISSION_DENIED' },
    { name: 'empty topology', in: { workloads: [], requested: { uriSans: [id('shop', 'cart')] } }, want: 'PERMISSION_DENIED' },
    { name: 'other trust domain configured', in: { trustDomain: 'corp.example', requested: { uriSans: [id('shop', 'cart', 'corp.example')] } }, want: 'ok' },
  ];
  for (const c of cases) {
    const d = authorizeCsr({ callerNode: 'node-a', workloads: WORKLOADS, trustDomain: TD, ...c.in });
    if (c.want === 'ok') {
      assert.ok(d.ok, `${c.name}: ${d.ok ? '' : d.reason}`);
      assert.equal(d.identity, c.in.requested.uriSans[0], c.name);
    } else {
      assert.ok(!d.ok, c.name);
      assert.equal(d.code, c.want, c.name);
      if (c.match) assert.match(d.reason, c.match, c.name);
    }
  }
});
