// DestinationRule tls (modes, fields, certificate files) and wildcard DestinationRule hosts: the pure
// mode table and host precedence as tables, then whole configs with real files in a temporary directory.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tlsFieldProblems } from '../../../src/config/kinds/clienttls';
import { EXACT_RANK, mostSpecific, wildcardRank } from '../../../src/config/drhosts';
import type { ClientTls, TrafficConfig } from '../../../src/config/traffic';
import { loadText } from './helpers';
import { dr, withServices } from './traffic-helpers';
import { makeCa, makeLeaf, writeFiles } from '../../helpers/tls-pki';

type Obj = Record<string, unknown>;

test('tls fields allowed per mode (Istio validateTLS plus fields a mode would ignore)', () => {
  const cases: [ClientTls['mode'], string[], boolean, string[]][] = [
    ['SIMPLE', [], false, []],
    ['SIMPLE', ['caCertificates', 'sni', 'subjectAltNames'], false, []],
    ['SIMPLE', ['clientCertificate'], false, ['clientCertificate']],
    ['SIMPLE', ['caCertificates', 'insecureSkipVerify'], true, ['caCertificates']],
    ['SIMPLE', ['subjectAltNames', 'insecureSkipVerify'], true, ['subjectAltNames']],
    ['SIMPLE', ['insecureSkipVerify', 'sni'], true, []],
    ['MUTUAL', ['clientCertificate', 'privateKey'], false, []],
    ['MUTUAL', ['clientCertificate'], false, ['privateKey']],
    ['MUTUAL', [], false, ['clientCertificate', 'privateKey']],
    ['MUTUAL', ['credentialName'], false, ['credentialName']],
    ['SIMPLE', ['credentialName'], false, ['credentialName']],
    ['DISABLE', [], false, []],
    ['DISABLE', ['sni', 'caCertificates'], false, ['caCertificates', 'sni']],
    ['ISTIO_MUTUAL', ['sni', 'subjectAltNames'], false, []],
    ['ISTIO_MUTUAL', ['clientCertificate', 'privateKey'], false, ['clientCertificate', 'privateKey']],
  ];
  for (const [mode, present, skip, want] of cases) {
    const got = tlsFieldProblems(mode, new Set(present), skip).map(([k]) => k).sort();
    assert.deepEqual(got, [...want].sort(), `${mode} with ${present.join(', ') || 'nothing'}`);
  }
});

test('wildcard DestinationRule hosts: exact wildcard, then the longest matching suffix, `*` last', () => {
  const cases: [string, string[], number | undefined][] = [
    ['*', ['a.example.com'], 0],
    ['*.example.com', ['a.example.com'], '.example.com'.length],
    ['*.example.com', ['a.b.example.com'], '.example.com'.length],
    ['*.example.com', ['example.com'], undefined],
    ['*.example.com', ['a.example.org'], undefined],
    ['*.EXAMPLE.com', ['A.example.COM'], '.example.com'.length],
    ['*.example.com', ['*.example.com'], EXACT_RANK],
    ['*.com', ['*.example.com'], '.com'.length],
    ['*.a.example.com', ['*.example.com'], undefined],
    ['*', ['*.example.com'], 0],
    ['*.example.com', ['x.other.org', 'y.example.com'], '.example.com'.length],
  ];
  for (const [rule, hosts, want] of cases) assert.equal(wildcardRank(rule, hosts), want, `${rule} over ${hosts.join(', ')}`);
  const rules = [{ host: '*' }, { host: '*.com' }, { host: '*.example.com' }, { host: '*.b.example.com' }];
  const pick = (hosts: string[]): string | undefined => mostSpecific(rules, hosts)?.host;
  assert.equal(pick(['a.b.example.com']), '*.b.example.com');
  assert.equal(pick(['a.example.com']), '*.example.com');
  assert.equal(pick(['a.org']), '*');
  assert.equal(pick(['*.example.com']), '*.example.com');
  assert.equal(pick(['*.x.com']), '*.com');
  assert.equal(mostSpecific([{ host: '*.org' }], ['a.com']), undefined);
});

function load(...objects: Obj[]): { ok: true; traffic: TrafficConfig } | { ok: false; issues: string[] } {
  const r = loadText(withServices(...objects));
  if (!r.ok) return { ok: false, issues: r.issues.map((i) => `${i.field}: ${i.message}`) };
  return { ok: true, traffic: r.config.traffic! };
}

function ruleOf(t: TrafficConfig, service: string): string | undefined {
  return t.destinationRules.find((d) => d.service === service)?.name;
}

test('a service gets the most specific DestinationRule: its exact host, else the longest wildcard', () => {
  const r = load(
    dr('all', { host: '*', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }),
    dr('example', { host: '*.example.com', trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } } }),
    dr('cluster', { host: '*.svc.cluster.local' }),
    dr('reviews', { host: 'reviews' }),
  );
  assert.ok(r.ok, JSON.stringify(r));
  const t = r.traffic;
  assert.equal(ruleOf(t, 'default/reviews'), 'reviews');
  assert.equal(ruleOf(t, 'default/ratings'), 'cluster');
  assert.equal(ruleOf(t, 'shop/multi'), 'cluster');
  assert.equal(ruleOf(t, 'default/api'), 'example');
  assert.deepEqual(t.destinationRules.find((d) => d.service === 'default/api')?.trafficPolicy, { loadBalancer: { simple: 'LEAST_REQUEST' } });
  // One rule per service.
  assert.equal(new Set(t.destinationRules.map((d) => d.service)).size, t.destinationRules.length);
});

test('`*` alone covers every service; subsets of a wildcard rule resolve for each service it applies to', () => {
  const r = load(
    dr('all', { host: '*', subsets: [{ name: 'v1', labels: { version: 'v1' } }] }),
    { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'rv' }, spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] } },
  );
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.traffic.destinationRules.map((d) => d.service).sort(), ['default/api', 'default/ratings', 'default/reviews', 'shop/multi']);
});

test('two rules for the same wildcard host merge as for one exact host; a wildcard over no service is reported', () => {
  const r = loadText(withServices(dr('a', { host: '*.example.com', subsets: [{ name: 'one', labels: {} }] }), dr('b', { host: '*.example.com', subsets: [{ name: 'two', labels: {} }] })));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  assert.deepEqual(r.config.traffic?.destinationRules.find((d) => d.service === 'default/api')?.subsets.map((x) => x.name), ['one', 'two']);
  assert.match(r.warnings.map((w) => `${w.field}: ${w.message}`).join('\n'), /spec\.host: host \*\.example\.com already has DestinationRule default\/a .*: merged into it/);
  const none = load(dr('a', { host: '*.nothing.test' }));
  assert.equal(none.ok, false);
  assert.match(String(!none.ok && none.issues), /host \*\.nothing\.test matches no ServiceEntry host/);
});

let files: ReturnType<typeof writeFiles>;
before(async () => {
  const ca = await makeCa();
  const leaf = await makeLeaf(ca, { dns: ['client.test'] });
  const other = await makeLeaf(ca, { dns: ['other.test'] });
  files = writeFiles({ 'ca.pem': ca.pem, 'cert.pem': leaf.cert, 'key.pem': leaf.key, 'other-key.pem': other.key, 'junk.pem': 'not a pem\n' });
});
after(() => files.cleanup());

const tlsRule = (tls: Obj): Obj => dr('api', { host: 'api.example.com', trafficPolicy: { tls } });

test('SIMPLE and MUTUAL with readable files load; every field is kept', () => {
  const r = load(
    tlsRule({ mode: 'MUTUAL', clientCertificate: files.path('cert.pem'), privateKey: files.path('key.pem'), caCertificates: files.path('ca.pem'), sni: 'API.example.com', subjectAltNames: ['api.example.com'] }),
  );
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.traffic.destinationRules[0]?.trafficPolicy?.tls, {
    mode: 'MUTUAL',
    clientCertificate: files.path('cert.pem'),
    privateKey: files.path('key.pem'),
    caCertificates: files.path('ca.pem'),
    sni: 'api.example.com',
    subjectAltNames: ['api.example.com'],
  });
  const simple = load(tlsRule({ mode: 'simple', insecureSkipVerify: true }));
  assert.ok(simple.ok, JSON.stringify(simple));
  assert.deepEqual(simple.traffic.destinationRules[0]?.trafficPolicy?.tls, { mode: 'SIMPLE', insecureSkipVerify: true });
});

test('tls problems name their field and say what to do', () => {
  const T = 'spec.trafficPolicy.tls';
  const cases: [Obj, string, RegExp][] = [
    [{ mode: 'SIMPLE', caCertificates: '/nonexistent/ca.pem' }, `${T}.caCertificates`, /cannot read "\/nonexistent\/ca.pem" \(ENOENT\): the file must exist on every node/],
    [{ mode: 'SIMPLE', caCertificates: files.path('junk.pem') }, `${T}.caCertificates`, /no PEM certificate in the file/],
    [{ mode: 'MUTUAL', clientCertificate: files.path('cert.pem'), privateKey: files.path('junk.pem') }, `${T}.privateKey`, /not a PEM private key/],
    [{ mode: 'MUTUAL', clientCertificate: files.path('cert.pem'), privateKey: files.path('other-key.pem') }, `${T}.privateKey`, /does not belong to clientCertificate/],
    [{ mode: 'MUTUAL', credentialName: 'api-creds' }, `${T}.credentialName`, /needs Kubernetes discovery .* mount the Secret as files/],
    [{ mode: 'SIMPLE', sni: '*.example.com' }, `${T}.sni`, /wildcard/],
    [{ mode: 'SIMPLE', sni: '10.1.2.3' }, `${T}.sni`, /is an IP address; SNI carries a DNS name only/],
    [{ mode: 'SIMPLE', caCrl: '/crl.pem' }, `${T}.caCrl`, /not supported/],
    [{ mode: 'SIMPLE', insecureSkipVerify: 'yes' }, `${T}.insecureSkipVerify`, /must be true or false/],
    [{ sni: 'a.test' }, `${T}.mode`, /required field is missing/],
  ];
  for (const [tls, field, message] of cases) {
    const r = load(tlsRule(tls));
    assert.equal(r.ok, false, JSON.stringify(tls));
    const hit = !r.ok ? r.issues.find((i) => i.startsWith(`${field}: `)) : undefined;
    assert.ok(hit !== undefined && message.test(hit), `${JSON.stringify(tls)}: want ${field} ${message}, got ${!r.ok ? r.issues.join(' | ') : 'ok'}`);
  }
});

test('subset and port-level tls are read (and checked) like the top level', () => {
  const r = load(
    dr('api', {
      host: 'api.example.com',
      trafficPolicy: { portLevelSettings: [{ port: { number: 80 }, tls: { mode: 'SIMPLE', caCertificates: files.path('ca.pem') } }] },
      subsets: [{ name: 'plain', labels: {}, trafficPolicy: { tls: { mode: 'DISABLE' } } }],
    }),
  );
  assert.ok(r.ok, JSON.stringify(r));
  const rule = r.traffic.destinationRules[0]!;
  assert.deepEqual(rule.portLevel[0]?.tls, { mode: 'SIMPLE', caCertificates: files.path('ca.pem') });
  assert.deepEqual(rule.subsets[0]?.trafficPolicy?.tls, { mode: 'DISABLE' });
  const bad = load(dr('api', { host: 'api.example.com', subsets: [{ name: 's', labels: {}, trafficPolicy: { tls: { mode: 'MUTUAL' } } }] }));
  assert.equal(bad.ok, false);
  assert.match(String(!bad.ok && bad.issues), /spec\.subsets\[0\]\.trafficPolicy\.tls\.clientCertificate: is required with mode MUTUAL/);
});
