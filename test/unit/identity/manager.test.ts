import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { certInfo } from '../../../src/identity/certs';
import { CertManager, type CertMaterial } from '../../../src/identity/manager';
import { LocalSigner, signFailure, type Signer } from '../../../src/identity/signers';

const A = 'spiffe://cluster.local/ns/shop/sa/cart';
const B = 'spiffe://cluster.local/ns/shop/sa/pay';

/** Wraps a signer: counts calls, fails the first `failures` of them, or rewrites what it answers. */
class ScriptedSigner implements Signer {
  calls = 0;
  constructor(
    private readonly inner: Signer,
    private failures = 0,
    private readonly rewrite?: (chain: string[]) => Promise<string[]>,
  ) {}
  async sign(csr: string, ttl: number, id: string): Promise<string[]> {
    this.calls++;
    if (this.failures > 0) {
      this.failures--;
      throw signFailure('unavailable', 'CA down');
    }
    const chain = await this.inner.sign(csr, ttl, id);
    return this.rewrite ? this.rewrite(chain) : chain;
  }
}

async function metric(reg: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = (await reg.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as { labels: Record<string, string | number>; value: number }[] | undefined)?.find((x) =>
    Object.entries(labels).every(([k, val]) => x.labels[k] === val),
  );
  return v?.value;
}

test('ensure fetches missing identities, drops unneeded ones, exports expiry', async () => {
  const local = await LocalSigner.create();
  const reg = new Registry();
  const m = new CertManager({ signer: local, registry: reg, ttlSeconds: 3600 });
  try {
    await m.ensure([A, B]);
    const a = m.get(A) as CertMaterial;
    assert.ok(a);
    assert.equal(a.certChainPem.length, 1);
    assert.equal(a.rootPem, local.rootPem);
    assert.equal(m.rootPem(), local.rootPem);
    assert.deepEqual(m.keyCert(A), { key: a.keyPem, cert: a.certChainPem[0] });
    assert.equal(m.keyCert(B + 'x'), undefined);
    assert.equal(certInfo(a.certChainPem[0] as string).spiffeId, A);
    assert.equal(await metric(reg, 'nodemesh_cert_expiry_timestamp_seconds', { identity: A }), a.notAfter.getTime() / 1000);
    const before = a.serial;
    await m.ensure([A]); // B dropped, A kept as is (no refetch)
    assert.equal(m.get(B), undefined);
    assert.equal(m.get(A)?.serial, before);
    assert.deepEqual(m.identities(), [A]);
    assert.equal(await metric(reg, 'nodemesh_cert_expiry_timestamp_seconds', { identity: B }), undefined);
    await m.ensure([A, 'not-an-id']);
    assert.equal(await metric(reg, 'nodemesh_cert_errors_total', { reason: 'invalid_request' }), 1);
    await assert.rejects(m.wait(B, 10), /not managed/);
  } finally {
    m.stop();
  }
});

test('a CA that is down is retried with backoff; failures never throw', async () => {
  const s = new ScriptedSigner(await LocalSigner.create(), 3);
  const reg = new Registry();
  const m = new CertManager({ signer: s, registry: reg, retryInitialMs: 10, retryMaxMs: 40 });
  try {
    await m.ensure([A]); // first attempt fails, resolves anyway
    assert.equal(m.get(A), undefined);
    const got = await m.wait(A, 3000);
    assert.equal(certInfo(got.certChainPem[0] as string).spiffeId, A);
    assert.equal(s.calls, 4);
    assert.equal(await metric(reg, 'nodemesh_cert_errors_total', { reason: 'unavailable' }), 3);
  } finally {
    m.stop();
  }
});

test('a wrong answer from the CA is refused and retried (other identity, other key, no root)', async () => {
  const local = await LocalSigner.create();
  const other = await LocalSigner.create();
  const { generateKeyPair, createCsr } = await import('../../../src/identity/certs');
  const foreignKey = await generateKeyPair();
  const rewrites: ((c: string[]) => Promise<string[]>)[] = [
    async () => local.sign(await createCsr(B, foreignKey), 600, B), // other identity
    async () => local.sign(await createCsr(A, foreignKey), 600, A), // not our key
    async (c) => [c[0] as string], // no root
    async (c) => [c[0] as string, other.rootPem], // not issued by the root given
  ];
  for (const rewrite of rewrites) {
    const reg = new Registry();
    const m = new CertManager({ signer: new ScriptedSigner(local, 0, rewrite), registry: reg, retryInitialMs: 60_000 });
    try {
      await m.ensure([A]);
      assert.equal(m.get(A), undefined);
      assert.equal(await metric(reg, 'nodemesh_cert_errors_total', { reason: 'invalid_response' }), 1);
    } finally {
      m.stop();
    }
  }
});

test('rotation at half-life: new key, new serial, rotated event and counter', async () => {
  const reg = new Registry();
  const m = new CertManager({ signer: await LocalSigner.create(), registry: reg, ttlSeconds: 2 });
  try {
    const issued = once(m, 'issued');
    await m.ensure([A]);
    await issued;
    const first = m.get(A) as CertMaterial;
    const t0 = Date.now();
    const [id, next] = (await once(m, 'rotated')) as [string, CertMaterial];
    const took = Date.now() - t0;
    assert.equal(id, A);
    // X.509 times have one-second precision, so half of "2 s" is between 0.5 and 1 s.
    assert.ok(took > 400 && took < 1500, `rotated after ${took} ms (half of 2 s)`);
    assert.notEqual(next.serial, first.serial);
    assert.notEqual(next.keyPem, first.keyPem);
    assert.equal(m.get(A), next);
    assert.equal(await metric(reg, 'nodemesh_cert_rotations_total', { identity: A }), 1);
  } finally {
    m.stop();
  }
});

test('stop clears timers: nothing is requested afterwards; metrics register once per registry', async () => {
  const s = new ScriptedSigner(await LocalSigner.create());
  const reg = new Registry();
  const m = new CertManager({ signer: s, registry: reg, ttlSeconds: 1 });
  await m.ensure([A]);
  m.stop();
  const calls = s.calls;
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(s.calls, calls);
  const m2 = new CertManager({ signer: s, registry: reg, rootPem: 'ROOT' }); // same registry: reuses the metrics
  assert.equal(m2.rootPem(), 'ROOT');
  m2.stop();
  await m.ensure([B]); // after stop: a no-op, not a crash
  assert.equal(m.get(B), undefined);
});
