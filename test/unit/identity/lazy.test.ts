// The agent loads the CA client, the X.509 builder, gRPC, jose and the Kubernetes client only when it
// uses them; reading a certificate needs none of them (node's parser, identity/pem.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { isMeshError } from '../../../src/errors';
import { createCsr, createRootCa, generateKeyPair, signLeaf, signServing } from '../../../src/identity/certs';
import { certInfo, uriSansOfText } from '../../../src/identity/pem';
import { DeferredLocalSigner } from '../../../src/identity/signers';
// After certs: it loads reflect-metadata, which @peculiar/x509 needs first.
import * as x509 from '@peculiar/x509';

const SRC = path.resolve(__dirname, '../../../src');
const HEAVY = ['@kubernetes/client-node', '@peculiar/x509', '@grpc/grpc-js', '@grpc/proto-loader', 'jose'];

/** The packages of HEAVY that a fresh node has loaded after running `code` (with SRC in scope). */
function loadedAfter(code: string): string[] {
  const script = `const SRC = ${JSON.stringify(SRC)};
${code}
setImmediate(() => {
  const files = Object.keys(require.cache);
  process.stdout.write(JSON.stringify(${JSON.stringify(HEAVY)}.filter((p) => files.some((f) => f.includes('/node_modules/' + p + '/')))));
});`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

test('the agent and CLI modules load none of the heavy packages', () => {
  assert.deepEqual(loadedAfter(`require(SRC + '/main.js'); require(SRC + '/agent.js'); require(SRC + '/meshplane.js');`), []);
});

test('a GrpcSigner and a DeferredLocalSigner load nothing until they sign', () => {
  assert.deepEqual(
    loadedAfter(`const s = require(SRC + '/identity/signers.js');
new s.GrpcSigner({ address: '127.0.0.1:1', rootPem: '', token: 't' }).close();
new s.DeferredLocalSigner({ trustDomain: 'cluster.local' });`),
    [],
  );
});

test('DeferredLocalSigner: no root before the first signature, then the root that signed', async () => {
  const s = new DeferredLocalSigner({ trustDomain: 'example.org' });
  assert.equal(s.rootPem, undefined);
  const id = 'spiffe://example.org/ns/a/sa/b';
  const chain = await s.sign(await createCsr(id, await generateKeyPair()), 3600, id);
  assert.equal(chain.length, 2);
  assert.equal(chain[1], s.rootPem);
  assert.equal(certInfo(chain[0] as string).spiffeId, id);
  const again = await s.sign(await createCsr(id, await generateKeyPair()), 3600, id);
  assert.equal(again[1], s.rootPem, 'one root for every signature');
});

test('DeferredLocalSigner: a trust domain that cannot make a root is refused at once', () => {
  assert.throws(() => new DeferredLocalSigner({ trustDomain: 'bad domain' }), (e: unknown) => isMeshError(e, 'BAD_SPIFFE_ID'));
});

test('uriSansOfText: node subjectAltName text, plain and JSON-quoted values', () => {
  const cases: [string | undefined, string[]][] = [
    [undefined, []],
    ['', []],
    ['URI:spiffe://td/ns/a/sa/b', ['spiffe://td/ns/a/sa/b']],
    ['DNS:a.b, URI:spiffe://td/ns/a/sa/b, IP Address:10.0.0.1', ['spiffe://td/ns/a/sa/b']],
    ['URI:spiffe://td/x, URI:"http://x/a,b c", DNS:y', ['spiffe://td/x', 'http://x/a,b c']],
    ['URI:"spiffe://td/ns/a/sa/d\\"q", email:a@b', ['spiffe://td/ns/a/sa/d"q']],
  ];
  for (const [text, want] of cases) assert.deepEqual(uriSansOfText(text), want, String(text));
});

test('certInfo (node parser) reads what @peculiar/x509 reads', async () => {
  const root = await createRootCa('cluster.local');
  const id = 'spiffe://cluster.local/ns/n/sa/s';
  const leaf = await signLeaf({ csrPem: await createCsr(id, await generateKeyPair()), ca: root, ttlSeconds: 600, spiffeId: id });
  const serving = (await signServing(root, { dns: ['nodemesh-ca', 'localhost'], ips: ['127.0.0.1'] })).certPem;
  for (const pem of [root.certPem, leaf, serving]) {
    const c = new x509.X509Certificate(pem);
    const uris = [...c.extensions]
      .filter((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension)
      .flatMap((e) => e.names.items.filter((n) => n.type === 'url').map((n) => n.value));
    const info = certInfo(pem);
    assert.deepEqual(info.uriSans, uris);
    assert.equal(info.serial, c.serialNumber.toLowerCase());
    assert.equal(info.notBefore.getTime(), c.notBefore.getTime());
    assert.equal(info.notAfter.getTime(), c.notAfter.getTime());
  }
  assert.equal(certInfo(leaf).spiffeId, id);
  assert.equal(certInfo(root.certPem).spiffeId, undefined);
  assert.throws(() => certInfo('not a certificate'), (e: unknown) => isMeshError(e, 'BAD_CERT'));
});
