import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NODE_NAME_EXTRA,
  parseNamespacedFlag,
  parseServiceAccountUsername,
  POD_NAME_EXTRA,
  POD_UID_EXTRA,
  resolveCaller,
  type CallerResult,
  type PodLookup,
} from '../../../src/ca/caller';

test('parseServiceAccountUsername: table', () => {
  const cases: [unknown, { namespace: string; name: string } | undefined][] = [
    ['system:serviceaccount:nodemesh-system:nodemesh', { namespace: 'nodemesh-system', name: 'nodemesh' }],
    ['system:serviceaccount:shop:cart.v2', { namespace: 'shop', name: 'cart.v2' }],
    ['system:serviceaccount:shop', undefined],
    ['system:serviceaccount:shop:cart:extra', undefined],
    ['system:serviceaccount::cart', undefined],
    ['system:serviceaccount:Shop:cart', undefined],
    ['system:serviceaccount:shop.x:cart', undefined], // namespaces have no dots
    ['system:node:node-a', undefined],
    ['kubernetes-admin', undefined],
    ['SYSTEM:SERVICEACCOUNT:shop:cart', undefined],
    ['', undefined],
    [undefined, undefined],
    [42, undefined],
  ];
  for (const [input, want] of cases) assert.deepEqual(parseServiceAccountUsername(input), want, String(input));
});

test('parseNamespacedFlag: NS/NAME', () => {
  assert.deepEqual(parseNamespacedFlag('x', 'nodemesh-system/nodemesh'), { namespace: 'nodemesh-system', name: 'nodemesh' });
  for (const bad of ['nodemesh', 'a/b/c', '/b', 'a/', 'A/b', 'a/B', 'a.b/c', '']) {
    assert.throws(() => parseNamespacedFlag('agent-service-account', bad), /--agent-service-account must be NAMESPACE\/NAME/, bad);
  }
});

const AGENT = { namespace: 'nodemesh-system', name: 'nodemesh' };
const AGENT_USER = 'system:serviceaccount:nodemesh-system:nodemesh';
const AUD = 'nodemesh-ca';

function pods(synced: boolean): PodLookup {
  const known: Record<string, { node: string; uid: string; terminated: boolean }> = {
    'nodemesh-system/agent-a': { node: 'node-a', uid: 'uid-a', terminated: false },
    'nodemesh-system/agent-old': { node: 'node-c', uid: 'uid-old', terminated: true },
    'nodemesh-system/agent-pending': { node: '', uid: 'uid-p', terminated: false },
  };
  return { synced, pod: (ns, name) => known[`${ns}/${name}`] };
}

const ok = (user: Record<string, unknown>, audiences: unknown = [AUD]): unknown => ({ authenticated: true, user, audiences });

test('resolveCaller: TokenReview status × pods → node or refusal (table)', () => {
  type Want = { node: string; via: string } | { code: string; match: RegExp };
  const cases: { name: string; status: unknown; synced?: boolean; want: Want }[] = [
    { name: 'node-name extra (Kubernetes ≥ 1.30)', status: ok({ username: AGENT_USER, extra: { [NODE_NAME_EXTRA]: ['node-b'], [POD_NAME_EXTRA]: ['agent-a'] } }), want: { node: 'node-b', via: 'node-name' } },
    { name: 'bound pod → its node', status: ok({ username: AGENT_USER, extra: { [POD_NAME_EXTRA]: ['agent-a'], [POD_UID_EXTRA]: ['uid-a'] } }), want: { node: 'node-a', via: 'bound-pod' } },
    { name: 'bound pod without uid', status: ok({ username: AGENT_USER, extra: { [POD_NAME_EXTRA]: ['agent-a'] } }), want: { node: 'node-a', via: 'bound-pod' } },
    { name: 'duplicate equal values are one', status: ok({ username: AGENT_USER, extra: { [NODE_NAME_EXTRA]: ['node-a', 'node-a'] } }), want: { node: 'node-a', via: 'node-name' } },
    { name: 'not authenticated', status: { authenticated: false, user: {}, error: 'token expired' }, want: { code: 'UNAUTHENTICATED', match: /token expired/ } },
    { name: 'authenticated missing', status: { user: { username: AGENT_USER } }, want: { code: 'UNAUTHENTICATED', match: /not accepted/ } },
    { name: 'wrong audience', status: ok({ username: AGENT_USER, extra: { [NODE_NAME_EXTRA]: ['node-a'] } }, ['https://kubernetes.default.svc']), want: { code: 'UNAUTHENTICATED', match: /audience nodemesh-ca/ } },
    { name: 'audiences not confirmed', status: ok({ username: AGENT_USER, extra: { [NODE_NAME_EXTRA]: ['node-a'] } }, null), want: { code: 'UNAUTHENTICATED', match: /audience/ } },
    { name: 'another ServiceAccount', status: ok({ username: 'system:serviceaccount:shop:cart', extra: { [NODE_NAME_EXTRA]: ['node-a'] } }), want: { code: 'PERMISSION_DENIED', match: /shop\/cart is not the node agents' \(nodemesh-system\/nodemesh\)/ } },
    { name: 'same name, other namespace', status: ok({ username: 'system:serviceaccount:default:nodemesh', extra: { [NODE_NAME_EXTRA]: ['node-a'] } }), want: { code: 'PERMISSION_DENIED', match: /not the node agents'/ } },
    { name: 'a user, not a ServiceAccount', status: ok({ username: 'kubernetes-admin' }), want: { code: 'PERMISSION_DENIED', match: /kubernetes-admin is not a ServiceAccount/ } },
    { name: 'a node identity', status: ok({ username: 'system:node:node-a' }), want: { code: 'PERMISSION_DENIED', match: /not a ServiceAccount/ } },
    { name: 'no username', status: ok({}), want: { code: 'PERMISSION_DENIED', match: /no username/ } },
    { name: 'two nodes', status: ok({ username: AGENT_USER, extra: { [NODE_NAME_EXTRA]: ['node-a', 'node-b'] } }), want: { code: 'PERMISSION_DENIED', match: /2 nodes/ } },
    { name: 'invalid node name', status: ok({ username: AGENT_USER, extra: { [NODE_NAME_EXTRA]: ['Node A'] } }), want: { code: 'PERMISSION_DENIED', match: /invalid/ } },
    { name: 'legacy token: no binding', status: ok({ username: AGENT_USER }), want: { code: 'PERMISSION_DENIED', match: /bound to no pod and no node/ } },
    { name: 'two pods', status: ok({ username: AGENT_USER, extra: { [POD_NAME_EXTRA]: ['agent-a', 'agent-b'] } }), want: { code: 'PERMISSION_DENIED', match: /2 pods/ } },
    { name: 'pod uid differs (an earlier pod of that name)', status: ok({ username: AGENT_USER, extra: { [POD_NAME_EXTRA]: ['agent-a'], [POD_UID_EXTRA]: ['uid-x'] } }), want: { code: 'PERMISSION_DENIED', match: /earlier pod/ } },
    { name: 'terminated pod', status: ok({ username: AGENT_USER, extra: { [POD_NAME_EXTRA]: ['agent-old'] } }), want: { code: 'PERMISSION_DENIED', match: /terminated/ } },
    { name: 'unscheduled pod', status: ok({ username: AGENT_USER, extra: { [POD_NAME_EXTRA]: ['agent-pending'] } }), want: { code: 'PERMISSION_DENIED', match: /not scheduled/ } },
    { name: 'unknown pod, list synced: not seen yet', status: ok({ username: AGENT_USER, extra: { [POD_NAME_EXTRA]: ['agent-new'] } }), want: { code: 'UNAVAILABLE', match: /not known yet/ } },
    { name: 'unknown pod, list not synced', synced: false, status: ok({ username: AGENT_USER, extra: { [POD_NAME_EXTRA]: ['agent-new'] } }), want: { code: 'UNAVAILABLE', match: /not synced/ } },
    { name: 'node-name needs no pod list', synced: false, status: ok({ username: AGENT_USER, extra: { [NODE_NAME_EXTRA]: ['node-a'] } }), want: { node: 'node-a', via: 'node-name' } },
    { name: 'no status at all', status: undefined, want: { code: 'UNAVAILABLE', match: /no status/ } },
    { name: 'extra of the wrong shape', status: ok({ username: AGENT_USER, extra: 'node-a' }), want: { code: 'PERMISSION_DENIED', match: /bound to no pod/ } },
  ];
  for (const c of cases) {
    const r: CallerResult = resolveCaller(c.status, { audience: AUD, agent: AGENT, pods: pods(c.synced ?? true) });
    if ('node' in c.want) {
      assert.ok(r.ok, `${c.name}: ${r.ok ? '' : r.reason}`);
      assert.equal(r.node, c.want.node, c.name);
      assert.equal(r.via, c.want.via, c.name);
      assert.deepEqual(r.account, AGENT, c.name);
    } else {
      assert.ok(!r.ok, `${c.name}: accepted`);
      assert.equal(r.code, c.want.code, `${c.name}: ${r.reason}`);
      assert.match(r.reason, c.want.match, c.name);
    }
  }
});
