// DestinationRule tls.credentialName with the Kubernetes API stand-in: the Secret a rule names is
// watched by name in the rule's namespace; once created, MUTUAL origination to a TLS server that requires
// a client certificate presents it; a changed Secret is used by the next connection; a deleted one fails
// connections with 503 UF naming the Secret, in the access log and in one warning. No other Secret is
// listed or watched.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as https from 'node:https';
import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Addr } from '../../src/capture/types';
import { buildConfig } from '../../src/config/load';
import type { MeshConfig } from '../../src/config/model';
import { loadKubeConfig } from '../../src/discovery/kubeconfig';
import { credentialRefs, SecretWatcher } from '../../src/discovery/secrets';
import { AccessLog } from '../../src/telemetry/accesslog';
import { docs } from '../unit/config/helpers';
import type { KubeObject } from '../helpers/kubeapi';
import { makeCa, makeLeaf, type Ca, type Leaf } from '../helpers/tls-pki';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LoadResult } from '../../src/config/load';
import { MeshSources } from '../../src/discovery/sources';
import { FAST, linesSince, logs, makeDiscovery, standIn, tempDir, WARN } from './discovery-harness';
import { eventually, request, startProxy, VIP } from './proxy-helpers';

const HOST = 'api.example.test';
let ca: Ca;
let server: Leaf;
let first: Leaf;
let second: Leaf;

before(async () => {
  ca = await makeCa();
  server = await makeLeaf(ca, { dns: [HOST] });
  first = await makeLeaf(ca, { dns: ['client.test'], cn: 'first-client' });
  second = await makeLeaf(ca, { dns: ['client.test'], cn: 'second-client' });
});

/** An HTTPS backend requiring a client certificate; it answers with the client's CN and closes the connection. */
async function backend(): Promise<{ addr: Addr; close: () => Promise<void> }> {
  const srv = https.createServer({ key: server.key, cert: server.cert, ca: ca.pem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const peer = (req.socket as tls.TLSSocket).getPeerCertificate().subject?.CN;
    res.setHeader('connection', 'close');
    res.end(JSON.stringify({ peer }));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = { address: '127.0.0.1', port: (srv.address() as net.AddressInfo).port };
  return { addr, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }) };
}

function configText(port: number): string {
  return docs(
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'api', namespace: 'payments' },
      spec: { hosts: [HOST], addresses: [VIP.address], ports: [{ number: VIP.port, name: 'p', protocol: 'HTTP', targetPort: port }], resolution: 'STATIC', endpoints: [{ address: '127.0.0.1' }] },
    },
    { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'api', namespace: 'payments' }, spec: { host: HOST, trafficPolicy: { tls: { mode: 'MUTUAL', credentialName: 'api-creds' } } } },
  );
}

function config(port: number): MeshConfig {
  const text = configText(port);
  const r = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: text }], issues: [], warnings: [] }, { secrets: true });
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.field}: ${i.message}`).join('\n'));
  return r.config;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function secret(name: string, data: Record<string, string>, type = 'Opaque'): KubeObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'payments' }, type, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) };
}

const accessLines: Record<string, unknown>[] = [];
const accessLog = new AccessLog({
  logger: pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n')) if (l.trim() !== '') accessLines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  ).child({ module: 'access' }),
});

let stopBackend: (() => Promise<void>) | undefined;
after(async () => stopBackend?.());

test('credentialName: Secret created → MUTUAL works, changed → new certificate, deleted → 503 UF; only named Secrets read', async (t) => {
  const { api, kubeconfig } = await standIn(t);
  // A Secret the rule does not name, in the same namespace: never sent to the agent.
  api.apply(secret('unrelated', { 'tls.crt': first.cert, 'tls.key': first.key }));
  const b = await backend();
  stopBackend = b.close;
  const cfg = config(b.addr.port);
  assert.deepEqual(credentialRefs(cfg), [{ namespace: 'payments', name: 'api-creds' }]);
  const w = new SecretWatcher(loadKubeConfig(kubeconfig), { informer: FAST });
  t.after(() => w.stop());
  const p = await startProxy(cfg, { accessLog });
  t.after(() => p.close());
  const from = logs.length;
  w.want(credentialRefs(cfg));
  const peer = async (): Promise<string> => {
    const r = await request(p.addr, { headers: { host: HOST } });
    return r.status === 200 ? String(JSON.parse(r.body).peer) : `status ${r.status}`;
  };

  // Not there yet: 503 UF, and one warning naming the Secret.
  await eventually(() => linesSince(from, 'discovery.secrets').some((l) => l.level === WARN && /Secret payments\/api-creds does not exist/.test(String(l.msg))), 'a warning naming the missing Secret');
  assert.equal(await peer(), 'status 503');
  assert.equal(accessLines.at(-1)!['response_flags'], 'UF');
  assert.match(String(accessLines.at(-1)!['connection_termination_details']), /credentialName: Secret payments\/api-creds does not exist/);

  // Created: a kubernetes.io/tls Secret, its CA in api-creds-cacert.
  api.apply(secret('api-creds-cacert', { 'ca.crt': ca.pem }));
  api.apply(secret('api-creds', { 'tls.crt': first.cert, 'tls.key': first.key }, 'kubernetes.io/tls'));
  await eventually(async () => (await peer()) === 'first-client', 'the first client certificate presented', 300, 20);

  // Changed (generic layout this time, CA inside): the next connection presents the new certificate.
  api.apply(secret('api-creds', { cert: second.cert, key: second.key, cacert: ca.pem }));
  await eventually(async () => (await peer()) === 'second-client', 'the changed certificate presented', 300, 20);

  // Deleted: 503 UF naming the Secret, and a warning.
  const before = logs.length;
  api.remove('v1', 'Secret', 'payments', 'api-creds');
  await eventually(async () => (await peer()) === 'status 503', 'connections failing once the Secret is gone', 300, 20);
  assert.equal(accessLines.at(-1)!['response_flags'], 'UF');
  assert.match(String(accessLines.at(-1)!['connection_termination_details']), /Secret payments\/api-creds does not exist/);
  const warned = linesSince(before, 'discovery.secrets').filter((l) => l.level === WARN);
  assert.equal(warned.length, 1);
  assert.equal(warned[0]!['code'], 'NM_E_TLS_CREDENTIAL');
  assert.equal(warned[0]!['secret'], 'payments/api-creds');

  // Only the namespace's Secrets endpoint, always with a name selector; never a cluster-wide list.
  const secretCalls = Object.keys(api.counts()).filter((k) => k.includes('secrets'));
  assert.ok(secretCalls.length > 0);
  for (const k of secretCalls) assert.match(k, /^(list|watch) \/api\/v1\/namespaces\/payments\/secrets$/, k);

  // No longer named: its watches stop.
  w.want([]);
  assert.deepEqual(w.referenced(), []);
});

test('the ConfigMap may name a credential when discovery runs (its Secret is then watched), and not without it', async (t) => {
  const { kubeconfig } = await standIn(t);
  const file = path.join(tempDir(t), 'mesh.yaml');
  fs.writeFileSync(file, configText(8443));
  const run = async (withDiscovery: boolean): Promise<{ applied: MeshConfig[]; reloads: boolean[]; sources: MeshSources; d: ReturnType<typeof makeDiscovery>['d'] | undefined }> => {
    const applied: MeshConfig[] = [];
    const reloads: boolean[] = [];
    let sources: MeshSources | undefined;
    const d = withDiscovery ? makeDiscovery(t, kubeconfig, { onChange: () => sources?.changed() }).d : undefined;
    sources = new MeshSources({
      config: file,
      discovery: d,
      hooks: {
        apply: async (result: LoadResult) => {
          if (result.ok) applied.push(result.config);
          return result.ok;
        },
        reloaded: (ok) => reloads.push(ok),
        syncMeshed: () => [],
      },
    });
    t.after(() => sources?.stop());
    await sources.start();
    return { applied, reloads, sources, d };
  };
  const on = await run(true);
  await eventually(() => on.d!.secrets.referenced().join() === 'payments/api-creds', 'the named Secret watched', 500, 20);
  assert.deepEqual(on.applied.at(-1)?.traffic?.destinationRules[0]?.trafficPolicy?.tls?.credential, { namespace: 'payments', name: 'api-creds' });
  const off = await run(false);
  assert.deepEqual(off.applied, []);
  assert.deepEqual(off.reloads, [false]);
});
