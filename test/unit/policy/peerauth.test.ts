// PeerAuthentication precedence: mesh < namespace < workload < port, UNSET inheriting, PERMISSIVE by
// default, name order standing in for "oldest", and the policies Istio ignores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MtlsMode, PeerAuthn } from '../../../src/config/model';
import { mtlsMode, resolveMtls, type MtlsResolution } from '../../../src/policy/peerauth';
import { docs, mustLoad } from '../config/helpers';

const pa = (name: string, namespace: string, mode: MtlsMode, over: Partial<PeerAuthn> = {}): PeerAuthn => ({
  name,
  namespace,
  selector: undefined,
  mode,
  portLevel: {},
  ...over,
});
const mesh = (mode: MtlsMode, name = 'default'): PeerAuthn => pa(name, 'istio-system', mode);
const ns = (mode: MtlsMode, namespace = 'foo', name = 'default'): PeerAuthn => pa(name, namespace, mode);
const wl = (name: string, mode: MtlsMode, selector: Record<string, string> = { app: 'web' }, portLevel: Record<string, MtlsMode> = {}): PeerAuthn =>
  pa(name, 'foo', mode, { selector, portLevel });

const WEB = { namespace: 'foo', labels: { app: 'web', version: 'v1' } };

interface Case {
  readonly name: string;
  readonly policies: PeerAuthn[];
  readonly port?: number;
  readonly workload?: { namespace: string; labels: Record<string, string> };
  readonly want: MtlsResolution;
}

const CASES: readonly Case[] = [
  { name: 'no policies: PERMISSIVE', policies: [], want: { mode: 'PERMISSIVE', scope: 'default' } },
  { name: 'mesh STRICT', policies: [mesh('STRICT')], want: { mode: 'STRICT', scope: 'mesh', policy: 'istio-system/default' } },
  { name: 'mesh UNSET: default', policies: [mesh('UNSET')], want: { mode: 'PERMISSIVE', scope: 'default' } },
  { name: 'namespace overrides mesh', policies: [mesh('STRICT'), ns('PERMISSIVE')], want: { mode: 'PERMISSIVE', scope: 'namespace', policy: 'foo/default' } },
  { name: 'namespace UNSET inherits mesh', policies: [mesh('STRICT'), ns('UNSET')], want: { mode: 'STRICT', scope: 'mesh', policy: 'istio-system/default' } },
  { name: 'other namespace ignored', policies: [mesh('STRICT'), ns('DISABLE', 'bar')], want: { mode: 'STRICT', scope: 'mesh', policy: 'istio-system/default' } },
  { name: 'workload overrides namespace', policies: [ns('DISABLE'), wl('web', 'STRICT')], want: { mode: 'STRICT', scope: 'workload', policy: 'foo/web' } },
  { name: 'workload overrides mesh', policies: [mesh('DISABLE'), wl('web', 'STRICT')], want: { mode: 'STRICT', scope: 'workload', policy: 'foo/web' } },
  { name: 'selector not matching', policies: [ns('DISABLE'), wl('db', 'STRICT', { app: 'db' })], want: { mode: 'DISABLE', scope: 'namespace', policy: 'foo/default' } },
  { name: 'selector needs every label', policies: [ns('DISABLE'), wl('v2', 'STRICT', { app: 'web', version: 'v2' })], want: { mode: 'DISABLE', scope: 'namespace', policy: 'foo/default' } },
  { name: 'workload UNSET inherits namespace', policies: [mesh('STRICT'), ns('DISABLE'), wl('web', 'UNSET')], want: { mode: 'DISABLE', scope: 'namespace', policy: 'foo/default' } },
  { name: 'workload UNSET inherits mesh through UNSET namespace', policies: [mesh('STRICT'), ns('UNSET'), wl('web', 'UNSET')], want: { mode: 'STRICT', scope: 'mesh', policy: 'istio-system/default' } },
  {
    name: 'port-level overrides the workload for that port',
    policies: [wl('web', 'STRICT', { app: 'web' }, { 8080: 'DISABLE' })],
    port: 8080,
    want: { mode: 'DISABLE', scope: 'port', policy: 'foo/web' },
  },
  {
    name: 'port-level leaves other ports alone',
    policies: [wl('web', 'STRICT', { app: 'web' }, { 8080: 'DISABLE' })],
    port: 9090,
    want: { mode: 'STRICT', scope: 'workload', policy: 'foo/web' },
  },
  {
    name: 'port-level UNSET inherits the workload mode',
    policies: [wl('web', 'STRICT', { app: 'web' }, { 8080: 'UNSET' })],
    port: 8080,
    want: { mode: 'STRICT', scope: 'workload', policy: 'foo/web' },
  },
  {
    name: 'port-level UNSET with workload UNSET inherits the namespace',
    policies: [ns('DISABLE'), wl('web', 'UNSET', { app: 'web' }, { 8080: 'UNSET' })],
    port: 8080,
    want: { mode: 'DISABLE', scope: 'namespace', policy: 'foo/default' },
  },
  {
    name: 'port-level STRICT under a PERMISSIVE namespace',
    policies: [ns('PERMISSIVE'), wl('web', 'UNSET', { app: 'web' }, { 8080: 'STRICT' })],
    port: 8080,
    want: { mode: 'STRICT', scope: 'port', policy: 'foo/web' },
  },
  {
    name: 'port-level of a namespace policy (hand-built) is ignored',
    policies: [pa('default', 'foo', 'STRICT', { portLevel: { 8080: 'DISABLE' } })],
    port: 8080,
    want: { mode: 'STRICT', scope: 'namespace', policy: 'foo/default' },
  },
  { name: 'two workload policies: first by name wins', policies: [wl('b-web', 'DISABLE'), wl('a-web', 'STRICT')], want: { mode: 'STRICT', scope: 'workload', policy: 'foo/a-web' } },
  {
    name: 'the winner UNSET inherits the namespace, not the other workload policy',
    policies: [ns('PERMISSIVE'), wl('b-web', 'STRICT'), wl('a-web', 'UNSET')],
    want: { mode: 'PERMISSIVE', scope: 'namespace', policy: 'foo/default' },
  },
  {
    name: 'port-level of the losing workload policy is ignored',
    policies: [wl('a-web', 'STRICT'), wl('b-web', 'STRICT', { app: 'web' }, { 8080: 'DISABLE' })],
    port: 8080,
    want: { mode: 'STRICT', scope: 'workload', policy: 'foo/a-web' },
  },
  {
    name: 'root-namespace selector policy is ignored',
    policies: [mesh('PERMISSIVE'), pa('web', 'istio-system', 'STRICT', { selector: { app: 'web' } })],
    want: { mode: 'PERMISSIVE', scope: 'mesh', policy: 'istio-system/default' },
  },
  {
    name: 'root-namespace selector policy is ignored in the root namespace too',
    policies: [pa('gw', 'istio-system', 'STRICT', { selector: { app: 'gw' } })],
    workload: { namespace: 'istio-system', labels: { app: 'gw' } },
    want: { mode: 'PERMISSIVE', scope: 'default' },
  },
  {
    name: 'a workload in the root namespace gets the mesh policy',
    policies: [mesh('STRICT')],
    workload: { namespace: 'istio-system', labels: {} },
    want: { mode: 'STRICT', scope: 'mesh', policy: 'istio-system/default' },
  },
  {
    name: 'selector policy of another namespace is ignored',
    policies: [pa('web', 'bar', 'STRICT', { selector: { app: 'web' } })],
    want: { mode: 'PERMISSIVE', scope: 'default' },
  },
  { name: 'empty selector (hand-built) is namespace-wide', policies: [pa('all', 'foo', 'STRICT', { selector: {} })], want: { mode: 'STRICT', scope: 'namespace', policy: 'foo/all' } },
  { name: 'two mesh-wide (hand-built): first by name', policies: [mesh('DISABLE', 'zz'), mesh('STRICT', 'aa')], want: { mode: 'STRICT', scope: 'mesh', policy: 'istio-system/aa' } },
  { name: 'two namespace-wide (hand-built): first by name', policies: [ns('DISABLE', 'foo', 'b'), ns('UNSET', 'foo', 'a'), mesh('STRICT')], want: { mode: 'STRICT', scope: 'mesh', policy: 'istio-system/default' } },
];

for (const c of CASES) {
  test(`mtls: ${c.name}`, () => {
    const w = c.workload ?? WEB;
    const port = c.port ?? 8080;
    assert.deepEqual(resolveMtls(w, port, c.policies), c.want);
    assert.equal(mtlsMode(w, port, c.policies), c.want.mode);
  });
}

test('mtls: a configurable root namespace', () => {
  const policies = [pa('default', 'mesh-root', 'STRICT'), mesh('DISABLE')];
  assert.equal(mtlsMode(WEB, 80, policies, 'mesh-root'), 'STRICT');
  // istio-system is then an ordinary namespace, whose policy does not reach foo.
  assert.equal(mtlsMode(WEB, 80, [mesh('DISABLE')], 'mesh-root'), 'PERMISSIVE');
});

test('mtls: policies loaded from YAML', () => {
  const peer = (name: string, namespace: string, spec: Record<string, unknown>): Record<string, unknown> => ({
    apiVersion: 'security.istio.io/v1beta1',
    kind: 'PeerAuthentication',
    metadata: { name, namespace },
    spec,
  });
  const c = mustLoad(
    docs(
      peer('default', 'istio-system', { mtls: { mode: 'STRICT' } }),
      peer('legacy', 'legacy', { mtls: { mode: 'PERMISSIVE' } }),
      peer('payments', 'prod', { selector: { matchLabels: { app: 'payments' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { 9090: { mode: 'DISABLE' } } }),
    ),
  );
  const at = (namespace: string, labels: Record<string, string>, port: number): string => mtlsMode({ namespace, labels }, port, c.peerAuthentications);
  assert.equal(at('default', {}, 80), 'STRICT');
  assert.equal(at('legacy', { app: 'old' }, 80), 'PERMISSIVE');
  assert.equal(at('prod', { app: 'payments' }, 8080), 'STRICT');
  assert.equal(at('prod', { app: 'payments' }, 9090), 'DISABLE');
  assert.equal(at('prod', { app: 'other' }, 9090), 'STRICT');
});
