// The CA with the Kubernetes API (the test suite's stand-in, driven through the client library): pods
// tell it which identities run on which node, agents authenticate with ServiceAccount tokens checked by
// TokenReview, node tokens and the config's WorkloadEntries keep working next to it, and the root lives
// in a Secret, published in a ConfigMap. Calls go through GrpcSigner, the agents' own client.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { NODE_NAME_EXTRA, POD_NAME_EXTRA, POD_UID_EXTRA } from '../../src/ca/caller';
import { CaKube } from '../../src/ca/kube';
import { loadOrCreateRootSecret, publishRootConfigMap } from '../../src/ca/kube-root';
import { CaServer } from '../../src/ca/server';
import { NodeTokens } from '../../src/ca/tokens';
import { isMeshError, type MeshError } from '../../src/errors';
import { certInfo, createCsr, createRootCa, generateKeyPair, type KeyPair } from '../../src/identity/certs';
import { GrpcSigner } from '../../src/identity/signers';
import { KubeApiServer, type KubeObject } from '../helpers/kubeapi';

const AGENT_USER = 'system:serviceaccount:nodemesh-system:nodemesh-agent';
const AUD = 'nodemesh-ca';
const id = (ns: string, sa: string): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
const CART = id('shop', 'cart');
const PAY = id('shop', 'pay');
const FAST = { backoffMs: { base: 50, max: 300 } };

let dir: string;
let api: KubeApiServer;
let kubeconfig: string;
let kube: CaKube;
let ca: CaServer;
let key: KeyPair;

function pod(ns: string, name: string, node: string, sa: string, phase = 'Running'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, uid: `uid-${ns}-${name}` },
    spec: { nodeName: node, serviceAccountName: sa, containers: [{ name: 'c', image: 'app:1' }] },
    status: { phase, podIP: '10.1.0.1' },
  };
}

async function waitFor(what: string, pred: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Asks `port`'s CA for `identity` with `token`, as an agent does: 'OK' or the gRPC status name. */
async function ask(port: number, rootPem: string, token: string, identity: string): Promise<string> {
  const signer = new GrpcSigner({ address: `127.0.0.1:${port}`, rootPem, token, timeoutMs: 5000 });
  try {
    const chain = await signer.sign(await createCsr(identity, key), 600, identity);
    assert.equal(certInfo(chain[0] as string).spiffeId, identity);
    assert.equal(chain[chain.length - 1], rootPem);
    return 'OK';
  } catch (e) {
    const code = (e as MeshError).details?.grpcCode;
    if (typeof code !== 'number') throw e;
    return grpc.status[code] as string;
  }
}

const askCa = (token: string, identity: string): Promise<string> => ask(ca.port, ca.rootPem, token, identity);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nm-ca-kube-'));
  key = await generateKeyPair();
  api = await KubeApiServer.start({ bookmarkMs: 200 });
  kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  api.applyMany([
    pod('shop', 'cart-1', 'node-a', 'cart'),
    pod('shop', 'pay-1', 'node-b', 'pay'),
    pod('shop', 'batch-1', 'node-a', 'batch', 'Succeeded'),
    pod('nodemesh-system', 'nodemesh-a', 'node-a', 'nodemesh'),
    pod('nodemesh-system', 'nodemesh-b', 'node-b', 'nodemesh'),
  ]);
  // Kubernetes ≥ 1.30 names the node in the token; older servers only the bound pod.
  api.addToken('agent-a', { username: AGENT_USER, audiences: [AUD], extra: { [NODE_NAME_EXTRA]: ['node-a'], [POD_NAME_EXTRA]: ['nodemesh-a'], [POD_UID_EXTRA]: ['uid-nodemesh-system-nodemesh-a'] } });
  api.addToken('agent-b-pod-only', { username: AGENT_USER, audiences: [AUD], extra: { [POD_NAME_EXTRA]: ['nodemesh-b'], [POD_UID_EXTRA]: ['uid-nodemesh-system-nodemesh-b'] } });
  api.addToken('agent-a-api-audience', { username: AGENT_USER, extra: { [NODE_NAME_EXTRA]: ['node-a'] } });
  api.addToken('cart-token', { username: 'system:serviceaccount:shop:cart', audiences: [AUD], extra: { [NODE_NAME_EXTRA]: ['node-a'] } });
  kube = CaKube.start({ kubeconfig, audience: AUD, agent: { namespace: 'nodemesh-system', name: 'nodemesh-agent' }, informer: FAST });
  ca = await CaServer.start({
    listen: '127.0.0.1:0',
    dir: join(dir, 'ca'),
    tokens: NodeTokens.fromRecord({ 'node-c': 'token-c' }),
    authenticator: kube.authenticator,
    pods: kube.pods,
    topology: () => [{ namespace: 'legacy', serviceAccount: 'vm', node: 'node-c' }],
  });
  await waitFor('the pod list', () => kube.synced);
});

after(async () => {
  await ca?.stop(500);
  kube?.stop();
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('an agent token gets the identities of pods on its node only', async () => {
  assert.equal(await askCa('agent-a', CART), 'OK');
  assert.equal(await askCa('agent-a', PAY), 'PERMISSION_DENIED', 'pay runs on node-b');
  assert.equal(await askCa('agent-a', id('shop', 'batch')), 'PERMISSION_DENIED', 'a finished pod needs no identity');
  assert.equal(await askCa('agent-a', id('shop', 'nobody')), 'PERMISSION_DENIED');
  // No node in the token: the bound pod nodemesh-b runs on node-b.
  assert.equal(await askCa('agent-b-pod-only', PAY), 'OK');
  assert.equal(await askCa('agent-b-pod-only', CART), 'PERMISSION_DENIED');
});

test('refusals: wrong audience and unknown tokens are UNAUTHENTICATED, another ServiceAccount PERMISSION_DENIED', async () => {
  assert.equal(await askCa('agent-a-api-audience', CART), 'UNAUTHENTICATED');
  assert.equal(await askCa('no-such-token', CART), 'UNAUTHENTICATED');
  assert.equal(await askCa('cart-token', CART), 'PERMISSION_DENIED');
});

test('pods scheduled and deleted later are followed through the watch', async () => {
  const NEW = id('shop', 'fresh');
  assert.equal(await askCa('agent-a', NEW), 'PERMISSION_DENIED');
  api.apply(pod('shop', 'fresh-1', 'node-a', 'fresh'));
  await waitFor('fresh-1 in the pod index', () => kube.pods.pod('shop', 'fresh-1') !== undefined);
  assert.equal(await askCa('agent-a', NEW), 'OK');
  api.remove('v1', 'Pod', 'shop', 'fresh-1');
  await waitFor('fresh-1 gone', () => kube.pods.pod('shop', 'fresh-1') === undefined);
  assert.equal(await askCa('agent-a', NEW), 'PERMISSION_DENIED');
});

test('TokenReview refused by RBAC (403): UNAVAILABLE, and back once allowed', async () => {
  api.addToken('agent-a-2', { username: AGENT_USER, audiences: [AUD], extra: { [NODE_NAME_EXTRA]: ['node-a'] } });
  api.forbid.tokenReviews = true;
  try {
    assert.equal(await askCa('agent-a-2', CART), 'UNAVAILABLE');
    assert.equal(await askCa('agent-a-2', CART), 'UNAVAILABLE');
  } finally {
    api.forbid.tokenReviews = false;
  }
  assert.equal(await askCa('agent-a-2', CART), 'OK');
  // Reviews are cached: while TokenReview is refused again, a token already checked keeps working.
  api.forbid.tokenReviews = true;
  try {
    assert.equal(await askCa('agent-a-2', CART), 'OK');
  } finally {
    api.forbid.tokenReviews = false;
  }
});

test('node tokens and WorkloadEntries work next to the API', async () => {
  assert.equal(await askCa('token-c', id('legacy', 'vm')), 'OK', 'a WorkloadEntry on node-c');
  assert.equal(await askCa('token-c', CART), 'PERMISSION_DENIED');
  api.apply(pod('shop', 'cart-c', 'node-c', 'cart'));
  await waitFor('cart-c in the pod index', () => kube.pods.pod('shop', 'cart-c') !== undefined);
  assert.equal(await askCa('token-c', CART), 'OK', 'a pod from the API on node-c');
  assert.equal(await askCa('agent-a', id('legacy', 'vm')), 'PERMISSION_DENIED', 'the WorkloadEntry is on node-c');
});

test('until the pod list is synced, requests get UNAVAILABLE (not PERMISSION_DENIED)', async () => {
  // A stand-in that is not there yet: start one for a free port and token, then stop it.
  const later = await KubeApiServer.start({ bookmarkMs: 200 });
  const port = later.port;
  const token = later.token;
  const kc2 = join(dir, 'kubeconfig-later');
  later.writeKubeconfig(kc2);
  await later.stop();
  const k2 = CaKube.start({ kubeconfig: kc2, audience: AUD, agent: { namespace: 'nodemesh-system', name: 'nodemesh-agent' }, informer: FAST });
  const ca2 = await CaServer.start({
    listen: '127.0.0.1:0',
    dir: join(dir, 'ca'),
    tokens: NodeTokens.fromRecord({ 'node-a': 'token-a' }),
    authenticator: k2.authenticator,
    pods: k2.pods,
    topology: () => [{ namespace: 'legacy', serviceAccount: 'vm', node: 'node-a' }],
  });
  let back: KubeApiServer | undefined;
  try {
    assert.equal(await ask(ca2.port, ca2.rootPem, 'token-a', CART), 'UNAVAILABLE');
    assert.equal(await ask(ca2.port, ca2.rootPem, 'token-a', id('legacy', 'vm')), 'OK', 'the config is known already');
    assert.equal(await ask(ca2.port, ca2.rootPem, 'agent-a', CART), 'UNAVAILABLE', 'TokenReview cannot be reached');
    back = await KubeApiServer.start({ port, token, bookmarkMs: 200 });
    back.applyMany([pod('shop', 'cart-1', 'node-a', 'cart'), pod('shop', 'pay-1', 'node-b', 'pay')]);
    back.addToken('agent-a', { username: AGENT_USER, audiences: [AUD], extra: { [NODE_NAME_EXTRA]: ['node-a'] } });
    await waitFor('the pod list from the late API', () => k2.synced);
    assert.equal(await ask(ca2.port, ca2.rootPem, 'token-a', CART), 'OK');
    assert.equal(await ask(ca2.port, ca2.rootPem, 'token-a', PAY), 'PERMISSION_DENIED');
    assert.equal(await ask(ca2.port, ca2.rootPem, 'agent-a', CART), 'OK');
  } finally {
    await ca2.stop(500);
    k2.stop();
    await back?.stop();
  }
});

/** Runs `nodemesh ca ARGS` until it logs "CA started"; resolves with its port, its log and a stop function. */
async function startCaProcess(args: string[]): Promise<{ port: number; out: () => string; stop: () => Promise<number | null> }> {
  const script = `require(${JSON.stringify(join(__dirname, '../../src/ca/main.js'))}).runCa(require(${JSON.stringify(join(__dirname, '../../src/cli.js'))}).parseArgs(process.argv.slice(1), new Set(['no-kubernetes']))).then((c) => process.exit(c), (e) => { console.error(String(e)); process.exit(1); })`;
  const child = spawn(process.execPath, ['-e', script, 'ca', ...args], { env: { ...process.env, NODEMESH_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const [code] = (await exited) as [number | null];
    clearTimeout(timer);
    return code;
  };
  try {
    await waitFor(`the CA to start: ${out}`, () => /"msg":"CA started"/.test(out) || child.exitCode !== null, 20_000);
    const m = /"port":(\d+)[^\n]*"msg":"CA started"/.exec(out);
    if (!m) throw new Error(`CA did not start: ${out}`);
    return { port: Number(m[1]), out: () => out, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

test('`nodemesh ca --kubeconfig`: the root goes into a Secret and a ConfigMap; a second start reuses it', async () => {
  const args = ['--kubeconfig', kubeconfig, '--listen', '127.0.0.1:0', '--root-secret', 'nodemesh-system/nodemesh-ca-root', '--root-configmap', 'nodemesh-ca-root'];
  const first = await startCaProcess(args);
  let rootPem: string;
  let secretRv: unknown;
  try {
    const secret = api.get('v1', 'Secret', 'nodemesh-system', 'nodemesh-ca-root') as { data?: Record<string, string>; metadata: { resourceVersion?: string } };
    assert.ok(secret, 'the Secret was created');
    secretRv = secret.metadata.resourceVersion;
    rootPem = Buffer.from(secret.data?.['root-cert.pem'] ?? '', 'base64').toString('utf8');
    assert.match(Buffer.from(secret.data?.['root-key.pem'] ?? '', 'base64').toString('utf8'), /BEGIN PRIVATE KEY/);
    const cm = api.get('v1', 'ConfigMap', 'nodemesh-system', 'nodemesh-ca-root') as { data?: Record<string, string> };
    assert.equal(cm?.data?.['root-cert.pem'], rootPem, 'the ConfigMap publishes the root certificate');
    // An agent trusting the published root gets its pods' identities; no --node-tokens, no --config.
    assert.equal(await ask(first.port, rootPem, 'agent-a', CART), 'OK', first.out());
    assert.equal(await ask(first.port, rootPem, 'agent-a', PAY), 'PERMISSION_DENIED');
    assert.equal(await first.stop(), 0);
  } finally {
    await first.stop();
  }
  const second = await startCaProcess(args);
  try {
    assert.match(second.out(), /reusing the root CA from the Secret/);
    assert.equal((api.get('v1', 'Secret', 'nodemesh-system', 'nodemesh-ca-root') as { metadata: { resourceVersion?: string } }).metadata.resourceVersion, secretRv, 'the Secret was not rewritten');
    assert.equal(await ask(second.port, rootPem, 'agent-a', CART), 'OK', 'same root: the TLS handshake and the chain check pass');
  } finally {
    assert.equal(await second.stop(), 0);
  }
});

test('root Secret: concurrent first starts agree on one root; empty, half and broken Secrets', async () => {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const ref = { namespace: 'race', name: 'root' };
  const both = await Promise.all([loadOrCreateRootSecret(kc, ref, 'cluster.local'), loadOrCreateRootSecret(kc, ref, 'cluster.local')]);
  assert.equal(both[0].ca.certPem, both[1].ca.certPem, 'the loser of the create race read the winner back');
  assert.deepEqual(both.map((r) => r.created).sort(), [false, true]);

  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedSecret({ namespace: 'race', body: { metadata: { name: 'empty' }, type: 'Opaque' } });
  const filled = await loadOrCreateRootSecret(kc, { namespace: 'race', name: 'empty' }, 'cluster.local');
  assert.equal(filled.created, true);
  assert.equal((await loadOrCreateRootSecret(kc, { namespace: 'race', name: 'empty' }, 'cluster.local')).ca.certPem, filled.ca.certPem);

  const other = await createRootCa('cluster.local');
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const bad: [string, Record<string, string>, RegExp][] = [
    ['half', { 'root-cert.pem': b64(other.certPem) }, /has root-cert\.pem but not root-key\.pem/],
    ['mismatch', { 'root-cert.pem': b64(other.certPem), 'root-key.pem': b64(filled.ca.keyPem) }, /root-key\.pem does not belong to/],
    ['garbage', { 'root-cert.pem': b64('nope'), 'root-key.pem': b64('nope') }, /is not a certificate/],
  ];
  for (const [name, data, re] of bad) {
    await core.createNamespacedSecret({ namespace: 'race', body: { metadata: { name }, type: 'Opaque', data } });
    await assert.rejects(loadOrCreateRootSecret(kc, { namespace: 'race', name }, 'cluster.local'), (e: unknown) => isMeshError(e, 'CA_STORE') && re.test((e as Error).message), name);
  }
});

test('root ConfigMap: created, left alone when current, updated (other keys kept) when not', async () => {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const ref = { namespace: 'race', name: 'root-cm' };
  const a = await createRootCa('cluster.local');
  const b = await createRootCa('cluster.local');
  assert.equal(await publishRootConfigMap(kc, ref, a.certPem), 'created');
  assert.equal(await publishRootConfigMap(kc, ref, a.certPem), 'unchanged');
  const core = kc.makeApiClient(CoreV1Api);
  const cm = await core.readNamespacedConfigMap(ref);
  await core.replaceNamespacedConfigMap({ ...ref, body: { ...cm, data: { ...cm.data, 'extra.pem': 'x' } } });
  assert.equal(await publishRootConfigMap(kc, ref, b.certPem), 'updated');
  const now = (await core.readNamespacedConfigMap(ref)).data;
  assert.deepEqual(now, { 'root-cert.pem': b.certPem, 'extra.pem': 'x' });
});
