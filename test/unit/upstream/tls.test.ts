// TLS origination's pure parts: SAN matching, the default SNI name, policy merging of tls (subset and
// port level, as Istio merges them), and the connect options with files that change or disappear.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { DestinationRule } from '../../../src/config/traffic';
import { mergePolicy } from '../../../src/route/destinations';
import { connectOptions, defaultServername, makeUpstreamTls, parseSans, sanMatches, TLS_FILES_CODE } from '../../../src/upstream/tls';
import { makeCa, makeLeaf, writeFiles } from '../../helpers/tls-pki';

test('server certificate SANs against subjectAltNames', () => {
  const cases: [string | undefined, string[], boolean][] = [
    ['DNS:api.example.com', ['api.example.com'], true],
    ['DNS:API.example.com', ['api.EXAMPLE.com'], true],
    ['DNS:other.example.com', ['api.example.com'], false],
    ['DNS:*.example.com', ['api.example.com'], true],
    ['DNS:*.example.com', ['a.b.example.com'], false],
    ['DNS:*.example.com', ['example.com'], false],
    ['DNS:a.test, IP Address:10.0.0.1', ['10.0.0.1'], true],
    ['URI:spiffe://td/ns/a/sa/b', ['spiffe://td/ns/a/sa/b'], true],
    ['URI:spiffe://td/ns/a/sa/b', ['spiffe://td/ns/a/sa/c'], false],
    [undefined, ['a.test'], false],
    ['DNS:a.test', ['x.test', 'a.test'], true],
  ];
  for (const [sans, wanted, want] of cases) assert.equal(sanMatches(sans, wanted), want, `${sans} vs ${wanted.join(', ')}`);
  assert.deepEqual(parseSans('DNS:a, IP Address:1.2.3.4, URI:x:y'), [
    { type: 'DNS', value: 'a' },
    { type: 'IP', value: '1.2.3.4' },
    { type: 'URI', value: 'x:y' },
  ]);
});

test('default SNI: the first host that is a name (no wildcard, no IP)', () => {
  assert.equal(defaultServername(['api.example.com']), 'api.example.com');
  assert.equal(defaultServername(['*.example.com', 'Web.Example.com']), 'web.example.com');
  assert.equal(defaultServername(['10.1.2.3']), undefined);
  assert.equal(defaultServername([]), undefined);
  assert.equal(makeUpstreamTls({ mode: 'SIMPLE', sni: 'given.test' }, ['api.example.com']).servername, 'given.test');
  // Other settings, other pool keys.
  const a = makeUpstreamTls({ mode: 'SIMPLE' }, ['a.test']);
  assert.equal(a.id, makeUpstreamTls({ mode: 'SIMPLE' }, ['a.test']).id);
  assert.notEqual(a.id, makeUpstreamTls({ mode: 'SIMPLE', insecureSkipVerify: true }, ['a.test']).id);
  assert.notEqual(a.id, makeUpstreamTls({ mode: 'SIMPLE' }, ['b.test']).id);
});

test('tls merges as Istio merges it: subset over rule, a port-level entry replaces its level', () => {
  const simple = { mode: 'SIMPLE' as const };
  const mutual = { mode: 'MUTUAL' as const, clientCertificate: '/c', privateKey: '/k' };
  const rule: DestinationRule = {
    name: 'r',
    namespace: 'default',
    host: 'api.example.com',
    service: 'default/api',
    trafficPolicy: { tls: simple },
    portLevel: [{ port: 8443, tls: mutual }, { port: 9000, loadBalancer: { simple: 'RANDOM' } }],
    subsets: [
      { name: 'plain', labels: {}, trafficPolicy: { tls: { mode: 'DISABLE' } }, portLevel: [] },
      { name: 'lb', labels: {}, trafficPolicy: { loadBalancer: { simple: 'RANDOM' } }, portLevel: [] },
      { name: 'port', labels: {}, portLevel: [{ port: 80, loadBalancer: { simple: 'RANDOM' } }] },
    ],
  };
  const sub = (n: string) => rule.subsets.find((s) => s.name === n);
  assert.deepEqual(mergePolicy(rule, undefined, 80).tls, simple);
  assert.deepEqual(mergePolicy(rule, undefined, 8443).tls, mutual);
  assert.equal(mergePolicy(rule, undefined, 9000).tls, undefined, 'a port-level entry without tls falls back to none');
  assert.deepEqual(mergePolicy(rule, sub('plain'), 80).tls, { mode: 'DISABLE' });
  assert.deepEqual(mergePolicy(rule, sub('lb'), 80).tls, simple, 'a subset without tls inherits the rule’s');
  assert.equal(mergePolicy(rule, sub('port'), 80).tls, undefined, 'a subset port-level entry replaces tls too');
});

test('connect options: files read once, read again when replaced, a vanished file is an error naming the field', async () => {
  const ca = await makeCa();
  const leaf = await makeLeaf(ca, { dns: ['c.test'] });
  const f = writeFiles({ 'ca.pem': ca.pem, 'cert.pem': leaf.cert, 'key.pem': leaf.key });
  try {
    const u = makeUpstreamTls({ mode: 'MUTUAL', caCertificates: f.path('ca.pem'), clientCertificate: f.path('cert.pem'), privateKey: f.path('key.pem'), subjectAltNames: ['s.test'] }, ['api.test']);
    const t0 = 1_000_000;
    const o = connectOptions(u, ['http/1.1'], t0);
    assert.ok(!(o instanceof Error), String(o));
    assert.equal(o.servername, 'api.test');
    assert.deepEqual(o.ALPNProtocols, ['http/1.1']);
    assert.equal(o.rejectUnauthorized, true);
    const again = connectOptions(u, undefined, t0 + 10);
    assert.ok(!(again instanceof Error));
    assert.equal(again.secureContext, o.secureContext, 'unchanged files: the same context');
    assert.equal(again.ALPNProtocols, undefined);
    // A new certificate renamed into place is picked up at the next check.
    const next = await makeLeaf(ca, { dns: ['c2.test'] });
    fs.writeFileSync(f.path('cert.new'), next.cert);
    fs.writeFileSync(f.path('key.new'), next.key);
    fs.renameSync(f.path('cert.new'), f.path('cert.pem'));
    fs.renameSync(f.path('key.new'), f.path('key.pem'));
    const later = connectOptions(u, undefined, t0 + 5_000);
    assert.ok(!(later instanceof Error), String(later));
    assert.notEqual(later.secureContext, o.secureContext, 'changed files: a new context');
    fs.rmSync(f.path('key.pem'));
    const gone = connectOptions(u, undefined, t0 + 10_000);
    assert.ok(gone instanceof Error);
    assert.equal((gone as NodeJS.ErrnoException).code, TLS_FILES_CODE);
    assert.match(gone.message, /tls\.privateKey ".*key\.pem" cannot be read \(ENOENT\)/);
    const skip = connectOptions(makeUpstreamTls({ mode: 'SIMPLE', insecureSkipVerify: true }, ['api.test']), undefined, t0);
    assert.ok(!(skip instanceof Error));
    assert.equal(skip.rejectUnauthorized, false);
  } finally {
    f.cleanup();
  }
});
