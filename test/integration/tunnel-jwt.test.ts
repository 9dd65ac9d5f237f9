// Request authentication at the destination side, behind a real tunnel server: JWTs signed in the test,
// keys served by a local JWKS server (fetched, refreshed on an unknown kid, kept when a fetch fails),
// 401 for bad tokens, 403 when a policy requires a principal or a claim, the token header removed and
// claims copied to headers before delivery, remoteIpBlocks through one trusted proxy, and a dry-run
// policy that is counted but not enforced. HS256 tokens verify against symmetric (kty "oct") keys, both
// fetched and inline.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type * as http2 from 'node:http2';
import * as net from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type CryptoKey } from 'jose';
import type { Addr } from '../../src/capture/types';
import { buildConfig } from '../../src/config/load';
import { InboundHandler } from '../../src/downstream/tunnel';
import { JwksCache } from '../../src/identity/jwks';
import { MeshAuthz } from '../../src/policy/authz';
import { Topology } from '../../src/state/topology';
import { AccessLog } from '../../src/telemetry/accesslog';
import { Metrics } from '../../src/telemetry/metrics';
import { securityMetrics } from '../../src/telemetry/security';
import type { TunnelPool } from '../../src/tunnel/client';
import { shopService } from '../helpers/cluster-config';
import { CLIENT_ID, CLIENT_IP, LOCAL, SERVER_ID, destinationConfig, h1Exchange, listenOn, pki, startTestServer, testPool, type TestTunnel } from './tunnel-harness';

const ISS = 'https://issuer.test';
/** An issuer whose rule has its keys inline: one HS256 secret, as a first-time user writes it. */
const ISS_HS = 'https://hs.issuer.test';
// At least the hash size of every HS algorithm the tests sign with (HS512: 64 bytes, RFC 7518 §3.2).
const SECRET = new TextEncoder().encode('a shared secret of sixty-four bytes or more, as HS512 wants it..');
const INLINE = JSON.stringify({ keys: [{ kty: 'oct', k: Buffer.from(SECRET).toString('base64url'), alg: 'HS256', kid: 'k1' }] });

function config(podPort: number, jwksUri: string): string {
  return [
    destinationConfig([shopService('web', '10.96.0.10', 80, 'HTTP', podPort)]),
    `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: shop}
spec:
  selector: {matchLabels: {app: backend}}
  jwtRules:
  - issuer: ${ISS}
    audiences: [shop]
    jwksUri: ${jwksUri}
    outputClaimToHeaders: [{header: x-team, claim: org.team}]
  - issuer: ${ISS_HS}
    jwks: '${INLINE}'
`,
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: shop}
spec:
  selector: {matchLabels: {app: backend}}
  rules:
  - from: [{source: {requestPrincipals: ["${ISS}/*", "${ISS_HS}/*"]}}]
    when: [{key: "request.auth.claims[groups]", values: [dev]}]
`,
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-proxy-net, namespace: shop}
spec:
  action: DENY
  rules: [{from: [{source: {remoteIpBlocks: [203.0.113.0/24]}}]}]
`,
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: trial, namespace: shop, annotations: {istio.io/dry-run: "true"}}
spec:
  action: DENY
  rules: [{when: [{key: "request.auth.claims[sub]", values: [bob]}]}]
`,
  ].join('---\n');
}

/** Sends raw HTTP/1 bytes on a tunnel stream; the answer's status, head and body. */
async function h1(stream: http2.ClientHttp2Stream, bytes: string): Promise<{ status: number; body: string; head: string }> {
  const [head = '', body = ''] = (await h1Exchange(stream, bytes)).split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0), body, head };
}

describe('request authentication at the destination', () => {
  let tunnel: TestTunnel;
  let pool: TunnelPool;
  let inbound: InboundHandler;
  let metrics: Metrics;
  let pod: http.Server;
  let jwksServer: http.Server;
  let jwks: JwksCache;
  const served: { keys: JWK[]; fail: boolean; hits: number } = { keys: [], fail: false, hits: 0 };
  const keys = new Map<string, CryptoKey>();
  let other: CryptoKey;

  const sign = (claims: Record<string, unknown>, opts: { kid?: string; exp?: number; key?: CryptoKey } = {}): Promise<string> =>
    new SignJWT({ aud: 'shop', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? 'k1' })
      .setIssuer(ISS)
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 600)
      .sign(opts.key ?? keys.get(opts.kid ?? 'k1')!);

  /** An HS token of ISSUER (kid h1 in the fetched set, k1 inline) signed with SECRET. */
  const signHs = (claims: Record<string, unknown>, opts: { issuer?: string; kid?: string; secret?: Uint8Array; alg?: string } = {}): Promise<string> =>
    new SignJWT({ aud: 'shop', ...claims })
      .setProtectedHeader({ alg: opts.alg ?? 'HS256', kid: opts.kid ?? 'h1' })
      .setIssuer(opts.issuer ?? ISS)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(opts.secret ?? SECRET);

  async function addKey(kid: string): Promise<void> {
    const pair = await generateKeyPair('ES256');
    keys.set(kid, pair.privateKey);
    served.keys.push({ ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' });
  }

  before(async () => {
    await addKey('k1');
    served.keys.push({ kty: 'oct', k: Buffer.from(SECRET).toString('base64url'), kid: 'h1', alg: 'HS256' });
    other = (await generateKeyPair('ES256')).privateKey;
    jwksServer = http.createServer((_req, res) => {
      served.hits++;
      if (served.fail) return void res.writeHead(503).end('down');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served.keys }));
    });
    const jwksAt = await listenOn(jwksServer);
    pod = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(JSON.stringify({ authorization: req.headers.authorization ?? null, team: req.headers['x-team'] ?? null })));
    });
    const podPort = (await listenOn(pod)).port;
    const uri = `http://${jwksAt.address}:${jwksAt.port}/jwks.json`;
    const built = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: config(podPort, uri) }], issues: [], warnings: [] });
    if (!built.ok) throw new Error(JSON.stringify(built.issues));
    const topo = new Topology(built.config, 'node-0', 'cluster.local');
    const authz = new MeshAuthz(built.config.authorizationPolicies);
    metrics = new Metrics({ cluster: 'Kubernetes' });
    const failures = securityMetrics(metrics.registry).jwksFetchFailures;
    jwks = new JwksCache({ minRefetchMs: 0, onFailure: (issuer) => failures.inc({ issuer }) });
    const authns = built.config.requestAuthentications ?? [];
    jwks.sync(authns.flatMap((p) => p.jwtRules.flatMap((r) => (r.jwksUri ? [{ uri: r.jwksUri, issuer: r.issuer }] : []))));
    await jwks.settled();
    inbound = new InboundHandler({
      topology: () => topo,
      authz: () => authz,
      requestAuthns: () => authns,
      jwks,
      trustedProxies: 1,
      metrics,
      deliveryAddress: undefined,
      connectTimeoutMs: 2_000,
      accessLog: new AccessLog({ enabled: false }),
    });
    const p = await pki([CLIENT_ID, SERVER_ID]);
    tunnel = await startTestServer(p, { onStream: (ctx) => inbound.onStream(ctx) });
    pool = testPool(p);
  });

  after(async () => {
    await pool?.close();
    await tunnel?.server.close(100);
    inbound?.close();
    jwks?.close();
    pod?.close();
    jwksServer?.close();
  });

  const web = (): Addr => ({ address: LOCAL, port: (pod.address() as net.AddressInfo).port });
  const get = async (headers: Record<string, string> = {}, path = '/'): Promise<{ status: number; body: string; head: string }> => {
    const stream = await pool.open({ sourceIdentity: CLIENT_ID, destinationIdentities: [SERVER_ID], node: tunnel.addr, target: web(), forwardedFor: { address: CLIENT_IP, port: 40000 } });
    const fields = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    return h1(stream, `GET ${path} HTTP/1.1\r\nhost: web.shop.svc.cluster.local\r\n${fields}connection: close\r\n\r\n`);
  };
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
    let n = 0;
    for (const line of (await metrics.registry.metrics()).split('\n')) {
      if (line.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) n += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return n;
  };

  test('a valid token with the required claim reaches the pod, without its header, with the claim copied', async () => {
    const r = await get({ authorization: `Bearer ${await sign({ sub: 'alice', groups: ['dev'], org: { team: 'pay' } })}` });
    assert.equal(r.status, 200, r.head);
    assert.deepEqual(JSON.parse(r.body), { authorization: null, team: 'pay' });
    // The token in the access_token parameter works too.
    const q = await get({}, `/x?access_token=${await sign({ sub: 'alice', groups: ['dev'] })}`);
    assert.equal(q.status, 200);
  });

  test('invalid tokens are answered 401 with Envoy\'s words', async () => {
    const expired = await get({ authorization: `Bearer ${await sign({ sub: 'a', groups: ['dev'] }, { exp: Math.floor(Date.now() / 1000) - 300 })}` });
    assert.equal(expired.status, 401);
    assert.equal(expired.body, 'Jwt is expired');
    assert.match(expired.head, /www-authenticate: Bearer/i);
    const forged = await get({ authorization: `Bearer ${await sign({ sub: 'a', groups: ['dev'] }, { key: other })}` });
    assert.deepEqual([forged.status, forged.body], [401, 'Jwt verification fails']);
    const wrongAud = await get({ authorization: `Bearer ${await sign({ sub: 'a', aud: 'other', groups: ['dev'] })}` });
    assert.deepEqual([wrongAud.status, wrongAud.body], [401, 'Audiences in Jwt are not allowed']);
  });

  test('HS256: tokens verify against an oct key of the fetched set and against inline oct keys; a wrong secret is 401', async () => {
    const fetched = await get({ authorization: `Bearer ${await signHs({ sub: 'alice', groups: ['dev'], org: { team: 'pay' } })}` });
    assert.equal(fetched.status, 200, fetched.head);
    assert.deepEqual(JSON.parse(fetched.body), { authorization: null, team: 'pay' });
    const inline = await get({ authorization: `Bearer ${await signHs({ sub: 'alice', groups: ['dev'] }, { issuer: ISS_HS, kid: 'k1' })}` });
    assert.equal(inline.status, 200, inline.head);
    const wrong = await get({ authorization: `Bearer ${await signHs({ sub: 'alice', groups: ['dev'] }, { issuer: ISS_HS, kid: 'k1', secret: new TextEncoder().encode('guess') })}` });
    assert.deepEqual([wrong.status, wrong.body], [401, 'Jwt verification fails']);
    // The inline key is for HS256 only: an HS512 token finds no key (inline keys are never fetched again).
    const alg = await get({ authorization: `Bearer ${await signHs({ sub: 'alice', groups: ['dev'] }, { issuer: ISS_HS, kid: 'k1', alg: 'HS512' })}` });
    assert.deepEqual([alg.status, alg.body], [401, "Jwks doesn't have key to match kid or alg from Jwt"]);
  });

  test('no token passes authentication but the policy requiring a principal denies it: 403', async () => {
    const r = await get();
    assert.deepEqual([r.status, r.body], [403, 'RBAC: access denied']);
    const noClaim = await get({ authorization: `Bearer ${await sign({ sub: 'alice', groups: ['qa'] })}` });
    assert.equal(noClaim.status, 403);
  });

  test('remoteIpBlocks reads X-Forwarded-For one trusted proxy from the right', async () => {
    const token = `Bearer ${await sign({ sub: 'alice', groups: ['dev'] })}`;
    assert.equal((await get({ authorization: token, 'x-forwarded-for': '198.51.100.1, 203.0.113.7' })).status, 403);
    assert.equal((await get({ authorization: token, 'x-forwarded-for': '203.0.113.7, 198.51.100.1' })).status, 200);
  });

  test('a dry-run DENY policy is counted with its would-be result and never enforced', async () => {
    const before = await metric('nodemesh_authz_dry_run_total', { policy: 'shop/trial', result: 'deny' });
    const r = await get({ authorization: `Bearer ${await sign({ sub: 'bob', groups: ['dev'] })}` });
    assert.equal(r.status, 200);
    assert.equal(await metric('nodemesh_authz_dry_run_total', { policy: 'shop/trial', result: 'deny' }), before + 1);
  });

  test('an unknown kid fetches the keys again; a failed fetch is counted and keeps the last good keys', async () => {
    await addKey('k2');
    const hits = served.hits;
    const rotated = await get({ authorization: `Bearer ${await sign({ sub: 'alice', groups: ['dev'] }, { kid: 'k2' })}` });
    assert.equal(rotated.status, 200);
    assert.equal(served.hits, hits + 1);
    served.fail = true;
    const pair = await generateKeyPair('ES256');
    const unknown = await new SignJWT({ aud: 'shop', sub: 'x', groups: ['dev'] }).setProtectedHeader({ alg: 'ES256', kid: 'k9' }).setIssuer(ISS).setExpirationTime('10m').sign(pair.privateKey);
    const r = await get({ authorization: `Bearer ${unknown}` });
    assert.equal(r.status, 401);
    assert.equal(await metric('nodemesh_jwks_fetch_failures_total', { issuer: ISS }), 1);
    // The keys fetched before still verify.
    assert.equal((await get({ authorization: `Bearer ${await sign({ sub: 'alice', groups: ['dev'] }, { kid: 'k1' })}` })).status, 200);
    served.fail = false;
  });
});
