// DestinationRule tls.credentialName: the mode table with Secrets readable, the rule's namespace kept
// with the name, refused without discovery, and the Secret → material table (Istio's key layouts, the
// `<name>-cacert` Secret, and every way a Secret cannot be used), plus the credentials a config names.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tlsFieldProblems } from '../../../src/config/kinds/clienttls';
import { buildConfig, type LoadResult } from '../../../src/config/load';
import type { ClientTls } from '../../../src/config/traffic';
import { credentialFromSecrets, trimSecret, type KSecret } from '../../../src/discovery/secretmaterial';
import { credentialRefs } from '../../../src/discovery/secrets';
import { makeCa, makeLeaf, type Ca, type Leaf } from '../../helpers/tls-pki';
import { dr, withServices } from './traffic-helpers';

type Obj = Record<string, unknown>;

test('tls fields with credentialName when Secrets can be read', () => {
  const cases: [ClientTls['mode'], string[], string[]][] = [
    ['MUTUAL', ['credentialName'], []],
    ['SIMPLE', ['credentialName'], []],
    ['SIMPLE', ['credentialName', 'sni', 'subjectAltNames'], []],
    ['MUTUAL', ['credentialName', 'clientCertificate', 'privateKey'], ['clientCertificate', 'privateKey']],
    ['SIMPLE', ['credentialName', 'caCertificates'], ['caCertificates']],
    ['DISABLE', ['credentialName'], ['credentialName']],
    ['ISTIO_MUTUAL', ['credentialName'], ['credentialName']],
  ];
  for (const [mode, present, want] of cases) {
    const got = tlsFieldProblems(mode, new Set(present), false, true).map(([k]) => k).sort();
    assert.deepEqual(got, [...want].sort(), `${mode} with ${present.join(', ')}`);
  }
});

function load(secrets: boolean, tls: Obj, meta: Obj = {}): LoadResult {
  const text = withServices(dr('api', { host: 'api.example.com', trafficPolicy: { tls }, subsets: [{ name: 'v1', labels: {}, trafficPolicy: { tls: { mode: 'SIMPLE', credentialName: 'sub-ca' } } }] }, meta));
  return buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: text }], issues: [], warnings: [] }, { secrets });
}

test("credentialName names a Secret of the rule's namespace; without discovery it is refused, saying what to do", () => {
  const r = load(true, { mode: 'MUTUAL', credentialName: 'api-creds', sni: 'api.example.com' });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  const rule = r.config.traffic!.destinationRules[0]!;
  assert.deepEqual(rule.trafficPolicy?.tls, { mode: 'MUTUAL', credential: { namespace: 'default', name: 'api-creds' }, sni: 'api.example.com' });
  assert.deepEqual(credentialRefs(r.config), [
    { namespace: 'default', name: 'api-creds' },
    { namespace: 'default', name: 'sub-ca' },
  ]);
  const shop = load(true, { mode: 'SIMPLE', credentialName: 'x' }, { namespace: 'shop' });
  assert.ok(shop.ok);
  assert.deepEqual(shop.config.traffic!.destinationRules[0]!.trafficPolicy?.tls?.credential, { namespace: 'shop', name: 'x' });

  const off = load(false, { mode: 'MUTUAL', credentialName: 'api-creds' });
  assert.equal(off.ok, false);
  assert.match(
    String(!off.ok && off.issues.map((i) => `${i.file} ${i.field}: ${i.message}`).join('\n')),
    /mesh\.yaml spec\.trafficPolicy\.tls\.credentialName: needs Kubernetes discovery .*mount the Secret as files and set clientCertificate, privateKey and caCertificates/,
  );
  const bad = load(true, { mode: 'SIMPLE', credentialName: 'Not_A_Name' });
  assert.equal(bad.ok, false);
  assert.match(String(!bad.ok && bad.issues.map((i) => `${i.field}: ${i.message}`)), /tls\.credentialName: "Not_A_Name" is not a Secret name/);
});

let ca: Ca;
let leaf: Leaf;
let other: Leaf;
before(async () => {
  ca = await makeCa();
  leaf = await makeLeaf(ca, { dns: ['client.test'] });
  other = await makeLeaf(ca, { dns: ['other.test'] });
});

/** A Secret as the API sends it (base64 data), trimmed as the watch keeps it. */
function secret(data: Record<string, string>, type = 'Opaque'): KSecret {
  const raw = { type, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
  const t = trimSecret(raw);
  assert.ok('ok' in t);
  return t.ok;
}

test('Secret → material: Istio key layouts, the -cacert Secret, and each unusable Secret named', () => {
  type Want = { cert: boolean; key: boolean; ca: boolean } | RegExp;
  const cases: [string, () => [KSecret | undefined, KSecret | undefined], Want][] = [
    ['kubernetes.io/tls with ca.crt', () => [secret({ 'tls.crt': leaf.cert, 'tls.key': leaf.key, 'ca.crt': ca.pem }, 'kubernetes.io/tls'), undefined], { cert: true, key: true, ca: true }],
    ['generic cert/key/cacert', () => [secret({ cert: leaf.cert, key: leaf.key, cacert: ca.pem }), undefined], { cert: true, key: true, ca: true }],
    ['tls Secret, CA in -cacert (ca.crt)', () => [secret({ 'tls.crt': leaf.cert, 'tls.key': leaf.key }, 'kubernetes.io/tls'), secret({ 'ca.crt': ca.pem })], { cert: true, key: true, ca: true }],
    ['tls Secret, CA in -cacert (cacert)', () => [secret({ 'tls.crt': leaf.cert, 'tls.key': leaf.key }), secret({ cacert: ca.pem })], { cert: true, key: true, ca: true }],
    ['CA only (SIMPLE)', () => [secret({ cacert: ca.pem }), undefined], { cert: false, key: false, ca: true }],
    ['cert and key without a CA (system roots)', () => [secret({ 'tls.crt': leaf.cert, 'tls.key': leaf.key }), undefined], { cert: true, key: true, ca: false }],
    ['no Secret', () => [undefined, secret({ cacert: ca.pem })], /^Secret ns\/creds does not exist$/],
    ['no usable key', () => [secret({ password: 'x' }), undefined], /Secret ns\/creds has none of the keys tls\.crt and tls\.key, cert and key, ca\.crt or cacert/],
    ['certificate without key', () => [secret({ 'tls.crt': leaf.cert }), undefined], /has tls\.crt but no private key/],
    ['key without certificate', () => [secret({ key: leaf.key }), undefined], /has key but no certificate/],
    ['certificate that is no PEM', () => [secret({ 'tls.crt': 'junk', 'tls.key': leaf.key }), undefined], /key tls\.crt: no PEM certificate/],
    ['key that is no PEM', () => [secret({ cert: leaf.cert, key: 'junk' }), undefined], /key key: not a PEM private key/],
    ['key of another certificate', () => [secret({ 'tls.crt': leaf.cert, 'tls.key': other.key }), undefined], /tls\.key does not belong to tls\.crt/],
    ['bad CA in -cacert', () => [secret({ 'tls.crt': leaf.cert, 'tls.key': leaf.key }), secret({ 'ca.crt': 'junk' })], /Secret ns\/creds-cacert key ca\.crt: no PEM certificate/],
  ];
  for (const [name, make, want] of cases) {
    const [main, cacert] = make();
    const got = credentialFromSecrets('ns', 'creds', main, cacert);
    if (want instanceof RegExp) {
      assert.ok('error' in got, `${name}: expected an error`);
      assert.match(got.error, want, name);
    } else {
      assert.ok('material' in got, `${name}: ${'error' in got ? got.error : ''}`);
      const m = got.material;
      assert.deepEqual({ cert: m.cert !== undefined, key: m.key !== undefined, ca: m.ca !== undefined }, want, name);
    }
  }
  // The version follows the bytes: same Secret, same version; another key, another version.
  const v = (s: KSecret): string => {
    const r = credentialFromSecrets('ns', 'creds', s, undefined);
    return 'material' in r ? r.material.version : r.error;
  };
  assert.equal(v(secret({ cert: leaf.cert, key: leaf.key })), v(secret({ cert: leaf.cert, key: leaf.key })));
  assert.notEqual(v(secret({ cert: leaf.cert, key: leaf.key })), v(secret({ cert: leaf.cert, key: leaf.key, cacert: ca.pem })));
  // Only the certificate keys are kept from a Secret.
  const t = trimSecret({ type: 'Opaque', data: { 'tls.crt': 'YQ==', password: 'cA==' } });
  assert.ok('ok' in t);
  assert.deepEqual(Object.keys(t.ok.data), ['tls.crt']);
  assert.ok('skip' in trimSecret({ data: 'x' }));
});
