// ServiceEntry subjectAltNames: which identities an endpoint may present over mesh mTLS, merged over the
// services that contain it, and the field read into the model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identityAllowed, mergeSubjectAltNames } from '../../../src/tunnel/sans';
import { docs, loadText, mustLoad, serviceEntry } from '../config/helpers';

const A = 'spiffe://cluster.local/ns/shop/sa/a';
const B = 'spiffe://cluster.local/ns/shop/sa/b';

test('mergeSubjectAltNames: no restriction once one service sets none; else the union', () => {
  const rows: [(readonly string[] | undefined)[], readonly string[] | undefined][] = [
    [[], undefined],
    [[undefined], undefined],
    [[[A]], [A]],
    [[[A], undefined], undefined],
    [[[A], [B, A]], [A, B]],
  ];
  for (const [lists, want] of rows) assert.deepEqual(mergeSubjectAltNames(lists), want, JSON.stringify(lists));
});

test('identityAllowed: the endpoint identity must be listed', () => {
  const rows: [string, readonly string[] | undefined, boolean][] = [
    [A, undefined, true],
    [A, [A], true],
    [A, [B, A], true],
    [A, [B], false],
    [A, ['cluster.local/ns/shop/sa/a'], false],
    [A, ['a.shop.svc.cluster.local'], false],
  ];
  for (const [own, allowed, want] of rows) assert.equal(identityAllowed(own, allowed), want, `${own} ${JSON.stringify(allowed)}`);
});

const se = (spec: Record<string, unknown>): string =>
  docs(serviceEntry('web', { hosts: ['web.shop.svc.cluster.local'], addresses: ['127.0.10.5'], ports: [{ number: 80, name: 'http' }], endpoints: [{ address: '127.0.0.5' }], ...spec }, { namespace: 'shop' }));

test('ServiceEntry subjectAltNames loads into the service; empty or bad entries are refused', () => {
  assert.deepEqual(mustLoad(se({ subjectAltNames: [A, B] })).services[0]?.subjectAltNames, [A, B]);
  assert.equal(mustLoad(se({})).services[0]?.subjectAltNames, undefined);
  for (const [value, field, message] of [
    [[''], 'spec.subjectAltNames[0]', 'must not be empty'],
    ['x', 'spec.subjectAltNames', 'must be a list'],
  ] as const) {
    const r = loadText(se({ subjectAltNames: value }));
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.issues.some((i) => i.field === field && i.message.includes(message)), JSON.stringify(r.issues));
  }
});
