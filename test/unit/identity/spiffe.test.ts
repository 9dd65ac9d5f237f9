import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMeshError } from '../../../src/errors';
import {
  formatPrincipal,
  formatSpiffeId,
  parsePrincipal,
  parseSpiffeId,
  principalOf,
  svidIdentity,
  tryParsePrincipal,
  tryParseSpiffeId,
  workloadIdentity,
} from '../../../src/identity/spiffe';

test('parseSpiffeId: accepted forms round-trip', () => {
  const cases = [
    { uri: 'spiffe://cluster.local/ns/default/sa/echo', td: 'cluster.local', ns: 'default', sa: 'echo' },
    { uri: 'spiffe://example.org/ns/kube-system/sa/coredns', td: 'example.org', ns: 'kube-system', sa: 'coredns' },
    { uri: 'spiffe://td_1.x-y/ns/a1/sa/svc.account-2', td: 'td_1.x-y', ns: 'a1', sa: 'svc.account-2' },
  ];
  for (const c of cases) {
    const id = parseSpiffeId(c.uri);
    assert.deepEqual(id, { trustDomain: c.td, namespace: c.ns, serviceAccount: c.sa }, c.uri);
    assert.equal(formatSpiffeId(id), c.uri);
    assert.equal(principalOf(c.uri), c.uri.slice('spiffe://'.length));
  }
});

test('parseSpiffeId: refused forms (each a different way to smuggle a second spelling)', () => {
  const bad = [
    '',
    'cluster.local/ns/default/sa/echo', // principal form is not a URI
    'SPIFFE://cluster.local/ns/default/sa/echo',
    'spiffe://Cluster.local/ns/default/sa/echo',
    'spiffe://cluster.local:443/ns/default/sa/echo',
    'spiffe://user@cluster.local/ns/default/sa/echo',
    'spiffe:///ns/default/sa/echo',
    'spiffe://cluster.local/ns/default/sa/echo/',
    'spiffe://cluster.local/ns/default/sa/',
    'spiffe://cluster.local/ns//sa/echo',
    'spiffe://cluster.local/ns/default/sa/echo?x=1',
    'spiffe://cluster.local/ns/default/sa/echo#f',
    'spiffe://cluster.local/ns/default/sa/ec%2Fho',
    'spiffe://cluster.local/ns/Default/sa/echo',
    'spiffe://cluster.local/ns/a.b/sa/echo', // namespaces are DNS-1123 labels: no dots
    'spiffe://cluster.local/sa/echo/ns/default',
    'spiffe://cluster.local/ns/default/sa/echo/extra/x',
    'spiffe://cluster.local/ns/../sa/echo',
    'spiffe://cluster.local',
    'https://cluster.local/ns/default/sa/echo',
  ];
  for (const uri of bad) {
    assert.equal(tryParseSpiffeId(uri), undefined, uri);
    assert.throws(() => parseSpiffeId(uri), (e: unknown) => isMeshError(e, 'BAD_SPIFFE_ID'), uri);
  }
});

test('principal form: no scheme, same rules', () => {
  const p = 'cluster.local/ns/default/sa/echo';
  assert.deepEqual(parsePrincipal(p), { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'echo' });
  assert.equal(formatPrincipal(parsePrincipal(p)), p);
  for (const bad of ['spiffe://cluster.local/ns/default/sa/echo', 'cluster.local/ns/default', '/ns/default/sa/echo', 'cluster.local/ns/default/sa/Echo']) {
    assert.equal(tryParsePrincipal(bad), undefined, bad);
    assert.throws(() => parsePrincipal(bad), /principal/, bad);
  }
});

test('workloadIdentity: service account defaults to "default", trust domain to cluster.local', () => {
  const cases: { w: { namespace: string; serviceAccount?: string | undefined }; td?: string; want: string }[] = [
    { w: { namespace: 'shop', serviceAccount: 'cart' }, want: 'spiffe://cluster.local/ns/shop/sa/cart' },
    { w: { namespace: 'shop' }, want: 'spiffe://cluster.local/ns/shop/sa/default' },
    { w: { namespace: 'shop', serviceAccount: undefined }, td: 'corp.example', want: 'spiffe://corp.example/ns/shop/sa/default' },
  ];
  for (const c of cases) assert.equal(workloadIdentity(c.w, c.td), c.want);
});

test('svidIdentity: exactly one URI SAN, and a valid one', () => {
  assert.equal(svidIdentity(['spiffe://cluster.local/ns/a/sa/b']), 'spiffe://cluster.local/ns/a/sa/b');
  assert.throws(() => svidIdentity([]), /exactly one URI SAN, found 0/);
  assert.throws(() => svidIdentity(['spiffe://cluster.local/ns/a/sa/b', 'spiffe://cluster.local/ns/a/sa/c']), /found 2/);
  assert.throws(() => svidIdentity(['https://example.com']), (e: unknown) => isMeshError(e, 'BAD_SPIFFE_ID'));
});
