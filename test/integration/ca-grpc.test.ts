// The CA over real gRPC/TLS on loopback: authentication, per-node authorization, CSR validation, TTL
// cap, health, root persistence, and a CertManager renewing through it (4 s certificates).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { TopologyWorkload } from '../../src/ca/authz';
import { CertClient, HealthClient, toStruct, type CertRequest, type CertResponse } from '../../src/ca/proto';
import { CaServer } from '../../src/ca/server';
import { NodeTokens } from '../../src/ca/tokens';
import { certInfo, createCsr, generateKeyPair } from '../../src/identity/certs';
import { CertManager, type CertMaterial } from '../../src/identity/manager';
import { GrpcSigner } from '../../src/identity/signers';
import { csrWithSans } from '../unit/identity/helpers';

const CART = 'spiffe://cluster.local/ns/shop/sa/cart';
const PAY = 'spiffe://cluster.local/ns/shop/sa/pay';
const WORKLOADS: TopologyWorkload[] = [
  { namespace: 'shop', serviceAccount: 'cart', node: 'node-a' },
  { namespace: 'shop', serviceAccount: 'pay', node: 'node-b' },
];

let dir: string;
let tokensFile: string;
let ca: CaServer;
let client: grpc.Client;

const startCa = (port = 0): Promise<CaServer> =>
  CaServer.start({
    listen: `127.0.0.1:${port}`,
    dir: join(dir, 'ca'),
    tokens: NodeTokens.fromFile(tokensFile),
    topology: () => WORKLOADS,
    maxTtlSeconds: 3600,
  });

function newClient(rootPem: string, port: number): grpc.Client {
  return new CertClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(rootPem)), { 'grpc.ssl_target_name_override': 'nodemesh-ca' });
}

function create(req: Partial<CertRequest>, token: string | undefined): Promise<{ err: grpc.ServiceError | null; res: CertResponse | undefined }> {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  const fn = (client as unknown as Record<string, Function>).CreateCertificate as Function;
  return new Promise((resolve) => {
    fn.call(client, { csr: '', validity_duration: 0, ...req }, md, { deadline: Date.now() + 5000 }, (err: grpc.ServiceError | null, res?: CertResponse) =>
      resolve({ err, res }),
    );
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nm-ca-'));
  tokensFile = join(dir, 'tokens.yaml');
  writeFileSync(tokensFile, 'node-a: token-a\nnode-b: token-b\n');
  ca = await startCa();
  client = newClient(ca.rootPem, ca.port);
});

after(async () => {
  client?.close();
  await ca?.stop(1000);
  rmSync(dir, { recursive: true, force: true });
});

test('good CSR → [leaf, root]; the leaf names the workload and chains to the root', async () => {
  const key = await generateKeyPair();
  const { err, res } = await create({ csr: await createCsr(CART, key), validity_duration: 600, metadata: toStruct({ ImpersonatedIdentity: CART }) }, 'token-a');
  assert.equal(err, null);
  const chain = res?.cert_chain ?? [];
  assert.equal(chain.length, 2);
  assert.equal(chain[1], ca.rootPem);
  const leaf = new X509Certificate(chain[0] as string);
  const root = new X509Certificate(chain[1] as string);
  assert.ok(leaf.checkIssued(root) && leaf.verify(root.publicKey));
  assert.equal(leaf.subjectAltName, `URI:${CART}`);
  const info = certInfo(chain[0] as string);
  assert.ok(Math.abs(info.notAfter.getTime() - Date.now() - 600_000) < 5000);
});

test('TTL: capped at the maximum; 0 means the default', async () => {
  const key = await generateKeyPair();
  const csr = await createCsr(CART, key);
  const long = await create({ csr, validity_duration: 10 * 86400 }, 'token-a');
  assert.ok(certInfo(long.res?.cert_chain[0] as string).notAfter.getTime() <= Date.now() + 3600_000 + 1000);
  const dflt = await create({ csr }, 'token-a');
  const dfltLife = certInfo(dflt.res?.cert_chain[0] as string).notAfter.getTime() - Date.now();
  assert.ok(dfltLife > 3590_000 && dfltLife <= 3600_000 + 1000, 'default 24 h, capped to the 1 h max');
});

test('refusals: UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT', async () => {
  const key = await generateKeyPair();
  const cart = await createCsr(CART, key);
  const cases: { name: string; req: Partial<CertRequest>; token: string | undefined; code: grpc.status }[] = [
    { name: 'no token', req: { csr: cart }, token: undefined, code: grpc.status.UNAUTHENTICATED },
    { name: 'unknown token', req: { csr: cart }, token: 'token-x', code: grpc.status.UNAUTHENTICATED },
    { name: "another node's workload", req: { csr: await createCsr(PAY, key) }, token: 'token-a', code: grpc.status.PERMISSION_DENIED },
    { name: 'the right node for it', req: { csr: cart }, token: 'token-b', code: grpc.status.PERMISSION_DENIED },
    { name: 'impersonation mismatch', req: { csr: cart, metadata: toStruct({ ImpersonatedIdentity: PAY }) }, token: 'token-a', code: grpc.status.PERMISSION_DENIED },
    { name: 'wrong trust domain', req: { csr: await createCsr('spiffe://evil.example/ns/shop/sa/cart', key) }, token: 'token-a', code: grpc.status.PERMISSION_DENIED },
    { name: 'malformed CSR', req: { csr: '-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n' }, token: 'token-a', code: grpc.status.INVALID_ARGUMENT },
    { name: 'empty CSR', req: {}, token: 'token-a', code: grpc.status.INVALID_ARGUMENT },
    { name: 'two URI SANs', req: { csr: await csrWithSans(key, { uris: [CART, PAY] }) }, token: 'token-a', code: grpc.status.INVALID_ARGUMENT },
    { name: 'no URI SAN', req: { csr: await csrWithSans(key, { dns: ['cart.shop'] }) }, token: 'token-a', code: grpc.status.INVALID_ARGUMENT },
  ];
  for (const c of cases) {
    const { err, res } = await create(c.req, c.token);
    assert.equal(res, undefined, c.name);
    assert.equal(err?.code, c.code, `${c.name}: ${err?.details}`);
  }
});

test('health: SERVING for "" and the cert service, NOT_FOUND otherwise', async () => {
  const h = new HealthClient(`127.0.0.1:${ca.port}`, grpc.credentials.createSsl(Buffer.from(ca.rootPem)), { 'grpc.ssl_target_name_override': 'nodemesh-ca' });
  const check = (service: string): Promise<{ err: grpc.ServiceError | null; res?: { status: string } }> =>
    new Promise((resolve) => ((h as unknown as Record<string, Function>).Check as Function).call(h, { service }, (err: grpc.ServiceError | null, res?: { status: string }) => resolve({ err, res })));
  try {
    assert.equal((await check('')).res?.status, 'SERVING');
    assert.equal((await check('istio.v1.auth.IstioCertificateService')).res?.status, 'SERVING');
    assert.equal((await check('nope')).err?.code, grpc.status.NOT_FOUND);
  } finally {
    h.close();
  }
});

test('the root is created once (key 0600) and reused after a restart', async () => {
  const keyFile = join(dir, 'ca', 'root-key.pem');
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.equal(readFileSync(join(dir, 'ca', 'root-cert.pem'), 'utf8'), ca.rootPem);
  const second = await startCa();
  try {
    assert.equal(second.rootPem, ca.rootPem);
  } finally {
    await second.stop(1000);
  }
});

test('CertManager through GrpcSigner: 4 s certificates rotate at half-life with a new serial', async () => {
  const signer = new GrpcSigner({ address: `127.0.0.1:${ca.port}`, rootPem: ca.rootPem, token: () => 'token-a' });
  const m = new CertManager({ signer, ttlSeconds: 4 });
  try {
    await m.ensure([CART]);
    const first = m.get(CART) as CertMaterial;
    assert.ok(first, 'issued');
    assert.equal(first.rootPem, ca.rootPem);
    const [id, next] = (await Promise.race([once(m, 'rotated'), new Promise((_, rej) => setTimeout(() => rej(new Error('no rotation within 4 s')), 4000).unref())])) as [string, CertMaterial];
    assert.equal(id, CART);
    assert.notEqual(next.serial, first.serial);
    assert.ok(next.notAfter.getTime() > first.notAfter.getTime());
  } finally {
    m.stop();
    signer.close();
  }
});

test('CertManager survives the CA being down and gets its certificate once it is back', async () => {
  const down = await startCa();
  const port = down.port;
  await down.stop(500);
  const signer = new GrpcSigner({ address: `127.0.0.1:${port}`, rootPem: ca.rootPem, token: 'token-a', timeoutMs: 1000 });
  const m = new CertManager({ signer, retryInitialMs: 100, retryMaxMs: 300 });
  let back: CaServer | undefined;
  try {
    await m.ensure([CART]); // fails (nothing listens); must not throw
    assert.equal(m.get(CART), undefined);
    back = await startCa(port);
    const got = await m.wait(CART, 5000);
    assert.equal(certInfo(got.certChainPem[0] as string).spiffeId, CART);
  } finally {
    m.stop();
    signer.close();
    await back?.stop(500);
  }
});

test('`nodemesh ca` process: signs per the config topology, exits 0 on SIGTERM', async () => {
  const cfg = join(dir, 'mesh.yaml');
  writeFileSync(
    cfg,
    [
      'apiVersion: networking.istio.io/v1',
      'kind: WorkloadEntry',
      'metadata: { name: cart-0, namespace: shop, labels: { kubernetes.io/hostname: node-a } }',
      'spec: { address: 10.0.0.1, serviceAccount: cart }',
      '',
    ].join('\n'),
  );
  const script = `require(${JSON.stringify(join(__dirname, '../../src/ca/main.js'))}).runCa(require(${JSON.stringify(join(__dirname, '../../src/cli.js'))}).parseArgs(process.argv.slice(1), new Set())).then((c) => process.exit(c), (e) => { console.error(String(e)); process.exit(1); })`;
  const args = ['ca', '--listen', '127.0.0.1:0', '--dir', join(dir, 'proc-ca'), '--node-tokens', tokensFile, '--config', cfg];
  const child = spawn(process.execPath, ['-e', script, ...args], { env: { ...process.env, NODEMESH_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  try {
    let out = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`CA did not start: ${out}`)), 10_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /"port":(\d+)[^\n]*"msg":"CA started"/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    });
    const rootPem = readFileSync(join(dir, 'proc-ca', 'root-cert.pem'), 'utf8');
    const c = newClient(rootPem, port);
    const saved = client;
    client = c;
    try {
      const ok = await create({ csr: await createCsr(CART, await generateKeyPair()) }, 'token-a');
      assert.equal(ok.err, null, ok.err?.details);
      const denied = await create({ csr: await createCsr(PAY, await generateKeyPair()) }, 'token-b');
      assert.equal(denied.err?.code, grpc.status.PERMISSION_DENIED, 'pay has no WorkloadEntry in this config');
    } finally {
      client = saved;
      c.close();
    }
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
