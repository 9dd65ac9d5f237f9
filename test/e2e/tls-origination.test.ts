// TLS origination through the captured path: a pod sends plaintext HTTP to a service VIP, connect4
// sends it to the agent, and the agent opens TLS to the endpoint as the DestinationRule says. SIMPLE
// against an HTTPS backend, MUTUAL against one that requires a client certificate, and a server
// certificate outside subjectAltNames refused with 503 (UF) after a config reload. The rule names the
// wildcard host `*.e2e.svc.cluster.local`, so it applies to the service through host precedence.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as tls from 'node:tls';
import { docs, labeledService, vip } from './fixtures';
import { metricSum, Mesh, rootTest } from './harness';
import { waitFor } from './traffic-helpers';
import { makeCa, makeLeaf } from '../helpers/tls-pki';

const NAME = 'secure';
const HOST = `${NAME}.e2e.svc.cluster.local`;

interface TlsBackend {
  readonly port: number;
  /** SNI and client certificate CN of each request served. */
  readonly seen: { sni: string | false | undefined; peer: string | undefined }[];
  close(): Promise<void>;
}

async function httpsBackend(key: string, cert: string, ca: string, requireClientCert: boolean): Promise<TlsBackend> {
  const seen: TlsBackend['seen'] = [];
  const srv = https.createServer({ key, cert, ca, requestCert: requireClientCert, rejectUnauthorized: requireClientCert }, (req, res) => {
    const s = req.socket as tls.TLSSocket & { servername?: string | false };
    const peer = requireClientCert ? (s.getPeerCertificate().subject?.CN as string | undefined) : undefined;
    seen.push({ sni: s.servername, peer });
    res.end(`tls ok${peer ? ` ${peer}` : ''}`);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    port: (srv.address() as AddressInfo).port,
    seen,
    close: () => new Promise<void>((r) => (srv.closeAllConnections(), srv.close(() => r()))),
  };
}

const rule = (tlsYaml: string): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${NAME}, namespace: e2e}
spec:
  host: "*.e2e.svc.cluster.local"
  trafficPolicy:
    tls:
${tlsYaml}`;

rootTest('DestinationRule tls: SIMPLE and MUTUAL originate TLS for plaintext clients; a wrong SAN is 503 UF', async (t) => {
  const ca = await makeCa();
  const server = await makeLeaf(ca, { dns: [HOST] });
  const client = await makeLeaf(ca, { dns: ['client.e2e'], cn: 'e2e-client' });
  const simple = await httpsBackend(server.key, server.cert, ca.pem, false);
  const mutual = await httpsBackend(server.key, server.cert, ca.pem, true);
  const v = vip();
  const service = (port: number): string => labeledService({ name: NAME, vip: v, endpoints: [{ port }] });
  // Written before the mesh exists: the config is checked against these files when it loads.
  const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-e2e-tls-'));
  const file = (name: string, content: string): string => {
    const p = path.join(certDir, name);
    fs.writeFileSync(p, content, { mode: 0o600 });
    return p;
  };
  const caFile = file('ca.pem', ca.pem);
  const certFile = file('client.pem', client.cert);
  const keyFile = file('client-key.pem', client.key);
  const mesh = new Mesh({ config: docs(service(simple.port), rule(`      mode: SIMPLE\n      caCertificates: ${caFile}\n`)) });
  t.after(async () => {
    await mesh.cleanup();
    await Promise.all([simple.close(), mutual.close()]);
    fs.rmSync(certDir, { recursive: true, force: true });
  });
  await mesh.start();

  // SIMPLE: the pod speaks HTTP, the backend only HTTPS, with the service host as SNI.
  assert.equal(await mesh.curl(`http://${v}/`), 'tls ok');
  assert.equal(await mesh.curl(`http://${v}/again`), 'tls ok');
  assert.deepEqual(simple.seen.map((s) => s.sni), [HOST, HOST]);

  // MUTUAL: the backend requires a client certificate signed by the CA.
  const applied = async (): Promise<number> => metricSum(await mesh.metrics(), 'nodemesh_config_reloads_total', { result: 'applied' });
  let reloads = await applied();
  mesh.writeConfig(docs(service(mutual.port), rule(`      mode: MUTUAL\n      caCertificates: ${caFile}\n      clientCertificate: ${certFile}\n      privateKey: ${keyFile}\n      subjectAltNames: [${HOST}]\n`)));
  await waitFor(async () => (await applied()) > reloads, 'MUTUAL config applied');
  assert.equal(await mesh.curl(`http://${v}/`), 'tls ok e2e-client');
  assert.deepEqual(mutual.seen.map((s) => s.peer), ['e2e-client']);

  // A server certificate outside subjectAltNames: refused before any request is sent.
  reloads = await applied();
  mesh.writeConfig(docs(service(mutual.port), rule(`      mode: MUTUAL\n      caCertificates: ${caFile}\n      clientCertificate: ${certFile}\n      privateKey: ${keyFile}\n      subjectAltNames: [billing.e2e.svc.cluster.local]\n`)));
  await waitFor(async () => (await applied()) > reloads, 'wrong-SAN config applied');
  assert.equal(await mesh.curl('-o', '/dev/null', '-w', '%{http_code}', `http://${v}/`), '503');
  assert.equal(mutual.seen.length, 1, 'the refused server got no request');
  const m = await mesh.metrics();
  assert.equal(metricSum(m, 'istio_requests_total', { destination_service_name: NAME, response_code: '503', response_flags: 'UF' }), 1);
  assert.match(mesh.logs, /NM_E_UPSTREAM_TLS.*match none of subjectAltNames \[billing\.e2e\.svc\.cluster\.local\]/);
});
