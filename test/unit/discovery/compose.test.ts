// compose(): the ConfigMap (all or nothing), Istio API objects (each on its own, falling back to the
// version last applied) and discovered objects joined into one config; each problem gives way alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSources, type ParsedConfig } from '../../../src/config/load';
import type { Parsed } from '../../../src/config/kinds/types';
import { compose, type ComposeInput } from '../../../src/discovery/compose';
import { validateIstio, type IstioObject } from '../../../src/discovery/istio';

const se = (name: string, vip: string, host = `${name}.shop.svc.cluster.local`): string => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: shop}
spec:
  hosts: [${host}]
  addresses: [${vip}]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.1.0.${vip.split('.')[3]}}]
`;

const vs = (name: string, host: string): string => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: shop}
spec:
  hosts: [${host}]
  http: [{route: [{destination: {host: ${host}}}]}]
`;

function configMap(text: string, file = 'mesh.yaml'): ParsedConfig {
  return parseSources({ files: [{ path: file, name: file, content: text }], issues: [], warnings: [] });
}

/** Documents as discovery hands them over: same shapes, origin file `kubernetes:<Kind>`. */
function discovered(text: string): Parsed[] {
  return configMap(text).parsed.map((p) => ({ ...p, origin: { ...p.origin, file: 'kubernetes:Service', kind: 'Service' } }) as Parsed);
}

function apiObject(yamlKind: 'VirtualService', name: string, host: string, rv = '1'): { key: string; parsed: readonly Parsed[] } {
  const raw = {
    apiVersion: 'networking.istio.io/v1',
    kind: yamlKind,
    metadata: { name, namespace: 'shop', uid: `uid-${name}`, resourceVersion: rv },
    spec: { hosts: [host], http: [{ route: [{ destination: { host } }] }] },
  };
  const o: IstioObject = { kind: yamlKind, apiVersion: raw.apiVersion, namespace: 'shop', name, uid: raw.metadata.uid, resourceVersion: rv, raw };
  const v = validateIstio(o);
  assert.ok(v.ok, 'fixture must be valid on its own');
  return { key: `${yamlKind} shop/${name}`, parsed: v.parsed };
}

function input(over: Partial<ComposeInput>): ComposeInput {
  return { configMap: undefined, lastGoodConfigMap: undefined, istio: new Map(), fallback: () => undefined, discovered: [], generation: 0, ...over };
}

const services = (c: ReturnType<typeof compose>): string[] => (c.result.ok ? c.result.config.services.map((s) => s.key) : []);

test('a ConfigMap alone composes to the config buildConfig would give', () => {
  const c = compose(input({ configMap: configMap(se('web', '10.96.0.10') + '---' + vs('web', 'web.shop.svc.cluster.local')) }));
  assert.ok(c.result.ok);
  assert.deepEqual(services(c), ['shop/web']);
  assert.equal(c.configMapRefused, undefined);
  assert.deepEqual(c.excluded, []);
});

test('a new ConfigMap that does not fit is refused whole; the last good one stays', () => {
  const good = configMap(se('web', '10.96.0.10'));
  const bad = configMap(se('web', '10.96.0.10') + '---' + vs('web', 'nothere.shop.svc.cluster.local') + '---' + se('db', '10.96.0.11'));
  const c = compose(input({ configMap: bad, lastGoodConfigMap: good }));
  assert.ok(c.result.ok);
  assert.deepEqual(services(c), ['shop/web'], 'nothing of the refused ConfigMap applies, not even its valid db');
  assert.equal(c.configMap, good);
  assert.match(c.configMapRefused?.[0]?.message ?? '', /matches no ServiceEntry host/);
});

test('a ConfigMap with a broken document is refused before any joining', () => {
  const good = configMap(se('web', '10.96.0.10'));
  const bad = configMap(se('web', '10.96.0.10').replace('number: 80', 'nmber: 80'));
  const c = compose(input({ configMap: bad, lastGoodConfigMap: good }));
  assert.equal(c.configMap, good);
  assert.ok(c.configMapRefused && c.configMapRefused.length > 0);
});

test('a ConfigMap VirtualService may name a host that only discovery knows', () => {
  const cm = configMap(vs('reviews', 'reviews.shop.svc.cluster.local'));
  const c = compose(input({ configMap: cm, discovered: discovered(se('reviews', '10.96.0.20')) }));
  assert.ok(c.result.ok);
  assert.equal(c.result.config.traffic?.virtualServices.length, 1);
});

test('an accepted ConfigMap document that no longer fits the API view is left out, the rest applies', () => {
  const cm = configMap(se('web', '10.96.0.10') + '---' + vs('reviews', 'reviews.shop.svc.cluster.local'));
  // reviews was discovered when the ConfigMap was accepted; now its Service is gone.
  const c = compose(input({ configMap: cm, lastGoodConfigMap: cm, discovered: [] }));
  assert.ok(c.result.ok);
  assert.deepEqual(services(c), ['shop/web']);
  assert.deepEqual(c.excluded.map((x) => [x.source, x.key]), [['configmap', 'mesh.yaml#1']]);
  assert.equal(c.configMapRefused, undefined);
});

test('an API object that clashes is left out by name; other API objects apply', () => {
  const ok = apiObject('VirtualService', 'web', 'web.shop.svc.cluster.local');
  const broken = apiObject('VirtualService', 'ghost', 'ghost.shop.svc.cluster.local');
  const c = compose(input({ configMap: configMap(se('web', '10.96.0.10')), istio: new Map([[ok.key, ok.parsed], [broken.key, broken.parsed]]) }));
  assert.ok(c.result.ok);
  assert.deepEqual(c.excluded.map((x) => [x.source, x.key, x.fellBack]), [['api', 'VirtualService shop/ghost', false]]);
  assert.deepEqual([...c.istioUsed.keys()], [ok.key]);
});

test('an API object whose new version clashes falls back to the version last applied', () => {
  const applied = apiObject('VirtualService', 'web', 'web.shop.svc.cluster.local', '1');
  const latest = apiObject('VirtualService', 'web', 'nothere.shop.svc.cluster.local', '2');
  const c = compose(input({ configMap: configMap(se('web', '10.96.0.10')), istio: new Map([[latest.key, latest.parsed]]), fallback: () => applied.parsed }));
  assert.ok(c.result.ok);
  assert.equal(c.istioUsed.get(latest.key), applied.parsed);
  assert.equal(c.excluded[0]?.fellBack, true);
  assert.equal(c.result.config.traffic?.virtualServices.length, 1);
});

test('on a VIP claimed twice the ConfigMap keeps it and the discovered service is left out', () => {
  const c = compose(input({ configMap: configMap(se('web', '10.96.0.10')), discovered: discovered(se('other', '10.96.0.10')) }));
  assert.ok(c.result.ok);
  assert.deepEqual(services(c), ['shop/web']);
  assert.deepEqual(c.excluded.map((x) => [x.source, x.key]), [['discovered', 'Service shop/other']]);
});

test('the hash changes with the discovery generation, so a new view is never taken for the old one', () => {
  const cm = configMap(se('web', '10.96.0.10'));
  const a = compose(input({ configMap: cm, generation: 1 }));
  const b = compose(input({ configMap: cm, generation: 2 }));
  assert.ok(a.result.ok && b.result.ok);
  assert.notEqual(a.result.config.source.hash, b.result.config.source.hash);
});

test('a ServiceEntry from the API in any namespace cannot take over a Service: it gives way, the Service stays', () => {
  const raw = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name: 'x', namespace: 'evil', uid: 'u-x', resourceVersion: '1' },
    spec: { hosts: ['a.shop.svc.cluster.local'], addresses: ['10.96.0.10'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', endpoints: [{ address: '10.244.9.9' }] },
  };
  const v = validateIstio({ kind: 'ServiceEntry', apiVersion: raw.apiVersion, namespace: 'evil', name: 'x', uid: 'u-x', resourceVersion: '1', raw });
  assert.ok(v.ok);
  const c = compose(input({ discovered: discovered(se('a', '10.96.0.10')), istio: new Map([['ServiceEntry evil/x', v.parsed]]) }));
  assert.ok(c.result.ok);
  assert.deepEqual(services(c), ['shop/a']);
  assert.deepEqual(c.excluded.map((x) => [x.source, x.key]), [['api', 'ServiceEntry evil/x']]);
});

test('an API object is accepted with the warnings the ConfigMap reader gives it (endpoints without a resolution)', () => {
  const raw = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name: 'w', namespace: 'shop', uid: 'u-w', resourceVersion: '1' },
    spec: { hosts: ['w.shop.svc.cluster.local'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], endpoints: [{ address: '10.1.0.9' }] },
  };
  const v = validateIstio({ kind: 'ServiceEntry', apiVersion: raw.apiVersion, namespace: 'shop', name: 'w', uid: 'u-w', resourceVersion: '1', raw });
  assert.ok(v.ok);
  assert.ok(v.warnings.some((w) => (w.field ?? '').includes('resolution')), JSON.stringify(v.warnings));
});
