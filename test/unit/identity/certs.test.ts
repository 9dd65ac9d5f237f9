import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import * as tls from 'node:tls';
import { test } from 'node:test';
import { isMeshError } from '../../../src/errors';
import {
  BACKDATE_MS,
  certInfo,
  createCsr,
  createRootCa,
  generateKeyPair,
  importKeyPem,
  isIssuedBy,
  keyMatchesCert,
  parseCsr,
  signLeaf,
  signServing,
  splitPem,
} from '../../../src/identity/certs';
import { csrWithSans, tamper } from './helpers';
import * as x509 from '@peculiar/x509';

const ID = 'spiffe://cluster.local/ns/shop/sa/cart';
const badCsr = (e: unknown): boolean => isMeshError(e, 'BAD_CSR');

test('root CA: self-signed P-256 CA for the trust domain', async () => {
  const ca = await createRootCa('cluster.local', 30);
  const c = new X509Certificate(ca.certPem);
  assert.equal(c.ca, true);
  assert.ok(c.checkIssued(c) && c.verify(c.publicKey));
  assert.match(c.subject, /O=cluster\.local/);
  assert.equal(c.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  assert.ok(keyMatchesCert(ca.keyPem, ca.certPem));
  const info = certInfo(ca.certPem);
  assert.equal(info.spiffeId, undefined);
  assert.ok(Math.abs(info.notAfter.getTime() - Date.now() - 30 * 86_400_000) < 120_000);
  await assert.rejects(createRootCa('Bad Domain'), (e: unknown) => isMeshError(e, 'BAD_SPIFFE_ID'));
});

test('CSR → sign → leaf: one URI SAN, chain verifies, leaf profile', async () => {
  const ca = await createRootCa('cluster.local');
  const key = await generateKeyPair();
  const csr = await createCsr(ID, key);
  const parsed = await parseCsr(csr);
  assert.deepEqual(parsed.uriSans, [ID]);
  assert.equal(parsed.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');

  const before = Date.now();
  const leafPem = await signLeaf({ csrPem: csr, ca, ttlSeconds: 3600, spiffeId: ID });
  const leaf = new X509Certificate(leafPem);
  const root = new X509Certificate(ca.certPem);
  assert.ok(leaf.checkIssued(root), 'issued by the root');
  assert.ok(leaf.verify(root.publicKey), 'signature verifies');
  assert.ok(isIssuedBy(leafPem, ca.certPem));
  assert.equal(leaf.ca, false);
  assert.equal(leaf.subjectAltName, `URI:${ID}`);
  assert.deepEqual(leaf.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']); // node reports extKeyUsage here
  assert.ok(keyMatchesCert(key.keyPem, leafPem));
  assert.ok(!keyMatchesCert((await generateKeyPair()).keyPem, leafPem));

  const info = certInfo(leafPem);
  assert.equal(info.spiffeId, ID);
  assert.deepEqual(info.uriSans, [ID]);
  assert.match(info.serial, /^[0-9a-f]{16}$/);
  assert.ok(info.notBefore.getTime() <= before - BACKDATE_MS + 2000, 'backdated');
  assert.ok(Math.abs(info.notAfter.getTime() - before - 3600_000) < 3000);

  const p = new x509.X509Certificate(leafPem);
  const ku = p.getExtension(x509.KeyUsagesExtension);
  assert.ok(ku?.critical);
  assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  const bc = p.getExtension(x509.BasicConstraintsExtension);
  assert.ok(bc?.critical && bc.ca === false);
  assert.ok(p.getExtension(x509.SubjectAlternativeNameExtension)?.critical, 'SAN critical: the subject is empty');
  assert.equal(p.subject, '');
});

test('leaf never outlives its CA', async () => {
  const ca = await createRootCa('cluster.local', 1);
  const key = await generateKeyPair();
  const leaf = await signLeaf({ csrPem: await createCsr(ID, key), ca, ttlSeconds: 10 * 86400, spiffeId: ID });
  assert.ok(certInfo(leaf).notAfter.getTime() <= certInfo(ca.certPem).notAfter.getTime());
});

test('keys and certificates work with node tls (mutual TLS between two SVIDs)', async () => {
  const ca = await createRootCa('cluster.local');
  const mk = async (id: string): Promise<{ key: string; cert: string }> => {
    const k = await generateKeyPair();
    return { key: k.keyPem, cert: await signLeaf({ csrPem: await createCsr(id, k), ca, ttlSeconds: 600, spiffeId: id }) };
  };
  const srv = await mk('spiffe://cluster.local/ns/shop/sa/server');
  const cli = await mk(ID);
  const server = tls.createServer({ ...srv, ca: ca.certPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (s) => {
    s.end(s.getPeerX509Certificate()?.subjectAltName ?? 'none');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  try {
    const sock = tls.connect({ host: '127.0.0.1', port, ...cli, ca: ca.certPem, checkServerIdentity: () => undefined });
    let got = '';
    sock.on('data', (d: Buffer) => (got += d.toString()));
    await once(sock, 'end');
    assert.equal(got, `URI:${ID}`);
    assert.equal(sock.getPeerX509Certificate()?.subjectAltName, 'URI:spiffe://cluster.local/ns/shop/sa/server');
    sock.destroy();
  } finally {
    server.close();
  }
});

test('parseCsr: malformed input is NM_E_BAD_CSR', async () => {
  const key = await generateKeyPair();
  const good = await createCsr(ID, key);
  const cases: [string, string][] = [
    ['empty', ''],
    ['garbage', 'hello'],
    ['certificate instead of CSR', (await createRootCa('cluster.local')).certPem],
    ['bad base64 body', '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'],
    ['two CSRs', good + good],
    ['signature does not verify', tamper(good)],
    ['huge', `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(20000)}\n-----END CERTIFICATE REQUEST-----\n`],
  ];
  for (const [name, pem] of cases) await assert.rejects(parseCsr(pem), badCsr, name);
});

test('parseCsr reports every URI SAN; signLeaf refuses anything but exactly the authorized one', async () => {
  const ca = await createRootCa('cluster.local');
  const key = await generateKeyPair();
  const two = await csrWithSans(key, { uris: [ID, 'spiffe://cluster.local/ns/shop/sa/pay'] });
  assert.equal((await parseCsr(two)).uriSans.length, 2);
  assert.deepEqual((await parseCsr(await csrWithSans(key, { dns: ['x.example'] }))).uriSans, []);
  await assert.rejects(signLeaf({ csrPem: two, ca, ttlSeconds: 60, spiffeId: ID }), badCsr);
  await assert.rejects(signLeaf({ csrPem: await csrWithSans(key, {}), ca, ttlSeconds: 60, spiffeId: ID }), badCsr);
  await assert.rejects(signLeaf({ csrPem: await createCsr(ID, key), ca, ttlSeconds: 60, spiffeId: 'spiffe://cluster.local/ns/shop/sa/pay' }), badCsr);
  await assert.rejects(signLeaf({ csrPem: await createCsr(ID, key), ca, ttlSeconds: 0, spiffeId: ID }), badCsr);
  await assert.rejects(createCsr('not-a-spiffe-id', key), (e: unknown) => isMeshError(e, 'BAD_SPIFFE_ID'));
});

test('importKeyPem round-trips and refuses non-P-256 keys; serving cert carries its names', async () => {
  const ca = await createRootCa('cluster.local');
  const again = await importKeyPem(ca.keyPem);
  assert.equal(again.keyPem, ca.keyPem);
  const { generateKeyPairSync } = await import('node:crypto');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  await assert.rejects(importKeyPem(rsa), (e: unknown) => isMeshError(e, 'BAD_CERT'));
  const serving = await signServing(ca, { dns: ['nodemesh-ca', 'localhost'], ips: ['127.0.0.1'] });
  const c = new X509Certificate(serving.certPem);
  assert.equal(c.subjectAltName, 'DNS:nodemesh-ca, DNS:localhost, IP Address:127.0.0.1');
  assert.ok(c.checkIssued(new X509Certificate(ca.certPem)));
  assert.equal(c.checkHost('nodemesh-ca'), 'nodemesh-ca');
  assert.equal(splitPem(serving.certPem + ca.certPem).length, 2);
  assert.throws(() => certInfo('nope'), (e: unknown) => isMeshError(e, 'BAD_CERT'));
});
