// RequestAuthentication through the captured path: pod → agent → tunnel → agent (JWT verified with keys
// fetched from a JWKS server in the node's namespace, then AuthorizationPolicy) → pod. A valid token is
// 200, an expired or forged one 401, none 403 under a policy that requires a principal, and a claim in
// `when` decides.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import type { Cluster } from '../helpers/cluster';
import { meshConfig } from '../helpers/cluster-config';
import { rootSkipReason } from '../helpers/sysenv';
import { metricSum, NODE } from './harness';
import { MeshNet } from './meshnet';

const WEB = '10.96.0.10';
const ISS = 'https://issuer.e2e';
const JWKS_PORT = 18080;

function config(c: Cluster): string {
  const [n0, n1] = c.nodes as [Cluster['nodes'][0], Cluster['nodes'][0]];
  const base = meshConfig({
    nodes: c.nodes,
    workloads: [
      { pod: n0.pods[0]!, namespace: 'a', serviceAccount: 'client', app: 'client' },
      { pod: n1.pods[0]!, namespace: 'b', serviceAccount: 'server', app: 'server' },
    ],
    services: [{ name: 'web', namespace: 'b', vip: WEB, port: 80, targetPort: 8080, protocol: 'HTTP', app: 'server' }],
  });
  return `${base}---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: b}
spec:
  selector: {matchLabels: {app: server}}
  jwtRules:
  - issuer: ${ISS}
    jwksUri: http://${n1.ip}:${JWKS_PORT}/jwks.json
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: b}
spec:
  selector: {matchLabels: {app: server}}
  rules:
  - from: [{source: {requestPrincipals: ["${ISS}/*"]}}]
    when: [{key: "request.auth.claims[role]", values: [reader]}]
`;
}

const skip = rootSkipReason();
describe('JWT request authentication across nodes', { skip: skip && process.env.CI !== 'true' ? skip : false, timeout: 120_000 }, () => {
  let m: MeshNet;
  let c: Cluster;
  let key: CryptoKey;
  let forger: CryptoKey;

  before(async () => {
    if (skip) throw new Error(`root test cannot run on CI: ${skip}`);
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    forger = (await generateKeyPair('ES256')).privateKey;
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'e2e', alg: 'ES256', use: 'sig' }] });
    m = await MeshNet.start({ nodes: 2, podsPerNode: 1, config });
    c = m.c;
    const n1 = c.nodes[1]!;
    const file = path.join(m.dir, 'jwks.json');
    fs.writeFileSync(file, jwks);
    const script = `const fs=require('fs');require('http').createServer((q,s)=>{s.setHeader('content-type','application/json');s.end(fs.readFileSync(${JSON.stringify(file)}))}).listen(${JWKS_PORT},${JSON.stringify(n1.ip)},()=>console.log('up'))`;
    const jwksServer = c.spawn(n1, NODE, ['-e', script]);
    await new Promise<void>((r) => jwksServer.stdout?.once('data', () => r()));
    const server = c.spawn(n1.pods[0]!, NODE, [path.join(__dirname, 'clients/server.js'), '8080', '9000']);
    await new Promise<void>((r) => server.stdout?.once('data', () => r()));
  });
  after(async () => {
    await m?.close();
  });

  const sign = (claims: Record<string, unknown>, opts: { exp?: number; key?: CryptoKey } = {}): Promise<string> =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'e2e' })
      .setIssuer(ISS)
      .setSubject('alice')
      .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 600)
      .sign(opts.key ?? key);
  const curl = async (token?: string): Promise<{ code: string; body: string }> => {
    const auth = token === undefined ? [] : ['-H', `authorization: Bearer ${token}`];
    const r = await c.exec(c.nodes[0]!.pods[0]!, 'curl', ['-s', '--max-time', '5', ...auth, '-w', '\n%{http_code}', `http://${WEB}/jwt`], { timeoutMs: 8000 });
    const i = r.stdout.lastIndexOf('\n');
    return { body: r.stdout.slice(0, i), code: r.stdout.slice(i + 1) };
  };

  test('valid → 200; expired or forged → 401; missing → 403; a claim in `when` decides', async () => {
    const good = await sign({ role: 'reader' });
    // The agent fetches the keys when the config names them (and again on a request while it has none,
    // at most every 5 s) and gives them to every worker: several new connections in a row pass.
    const allPass = async (): Promise<boolean> => {
      for (let i = 0; i < 6; i++) if ((await curl(good)).code !== '200') return false;
      return true;
    };
    await m.until(allPass, 'a valid token is accepted by every worker once the keys are fetched', 30_000);
    const ok = await curl(good);
    assert.match(ok.body, /^hello GET \/jwt/);
    const expired = await curl(await sign({ role: 'reader' }, { exp: Math.floor(Date.now() / 1000) - 300 }));
    assert.deepEqual(expired, { code: '401', body: 'Jwt is expired' });
    const forged = await curl(await sign({ role: 'reader' }, { key: forger }));
    assert.deepEqual(forged, { code: '401', body: 'Jwt verification fails' });
    assert.deepEqual(await curl(), { code: '403', body: 'RBAC: access denied' });
    assert.equal((await curl(await sign({ role: 'writer' }))).code, '403', 'the claim the policy asks for is missing');
    const mt = await m.metrics(c.nodes[1]!);
    assert.ok(metricSum(mt, 'istio_requests_total', { reporter: 'destination', response_code: '401' }) >= 2);
    assert.ok(metricSum(mt, 'istio_requests_total', { reporter: 'destination', response_code: '403', response_flags: 'DENY' }) >= 2);
  });
});
