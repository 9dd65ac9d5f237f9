// TLS routed by SNI through the captured path: a pod connects to one service VIP with TLS; connect4
// sends the connection to the agent, which reads the ClientHello's server name, picks the VirtualService
// tls route and splices the untouched TLS to that backend. The client verifies the backend's certificate
// (curl --cacert), so reaching the right backend is proven by the certificate as well as the answer.
// Port 443 declares TLS; port 8443 declares nothing and is sniffed as TLS first.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { docs, vip } from './fixtures';
import { metricSum, Mesh, rootTest } from './harness';
import { makeCa, makeLeaf, type Ca } from '../helpers/tls-pki';

async function httpsBackend(ca: Ca, answer: string, dns: string): Promise<{ port: number; close(): Promise<void> }> {
  const leaf = await makeLeaf(ca, { dns: [dns] });
  const srv = https.createServer({ key: leaf.key, cert: leaf.cert }, (_req, res) => res.end(answer));
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { port: (srv.address() as AddressInfo).port, close: () => new Promise<void>((r) => (srv.closeAllConnections(), srv.close(() => r()))) };
}

/** A ServiceEntry with one endpoint on 127.0.0.1; PORTS: [number, name, protocol or ''] with the endpoint port. */
function serviceEntry(name: string, hosts: readonly string[], address: string, ports: readonly [number, string, string][], endpointPorts: Record<string, number>): string {
  const p = ports.map(([n, pn, proto]) => `  - number: ${n}\n    name: ${pn}${proto ? `\n    protocol: ${proto}` : ''}`).join('\n');
  const ep = Object.entries(endpointPorts).map(([k, v]) => `      ${k}: ${v}`).join('\n');
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: e2e}
spec:
  hosts: [${hosts.join(', ')}]
  addresses: [${address}]
  ports:
${p}
  resolution: STATIC
  endpoints:
  - address: 127.0.0.1
    ports:
${ep}
`;
}

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front, namespace: e2e}
spec:
  hosts: [a.example.com, b.example.com]
  tls:
  - match:
    - sniHosts: [a.example.com]
    route:
    - destination: {host: back-a.e2e.svc.cluster.local, port: {number: 443}}
  - match:
    - sniHosts: [b.example.com]
    route:
    - destination: {host: back-b.e2e.svc.cluster.local, port: {number: 443}}
`;

rootTest('VirtualService tls: SNI a.example.com reaches backend A, b.example.com backend B, TLS passed through', async (t) => {
  const ca = await makeCa();
  const front = await httpsBackend(ca, 'front', 'default.example.com');
  const a = await httpsBackend(ca, 'A', 'a.example.com');
  const b = await httpsBackend(ca, 'B', 'b.example.com');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-e2e-sni-'));
  const caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.pem);
  const v = vip();
  const config = docs(
    serviceEntry('front', ['front.e2e.svc.cluster.local', 'a.example.com', 'b.example.com'], v, [[443, 'tls', 'TLS'], [8443, 'other', '']], { tls: front.port, other: front.port }),
    serviceEntry('back-a', ['back-a.e2e.svc.cluster.local'], vip(), [[443, 'tls', 'TLS']], { tls: a.port }),
    serviceEntry('back-b', ['back-b.e2e.svc.cluster.local'], vip(), [[443, 'tls', 'TLS']], { tls: b.port }),
    VS,
  );
  const mesh = new Mesh({ config });
  t.after(async () => {
    await mesh.cleanup();
    await Promise.all([front.close(), a.close(), b.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await mesh.start();

  // curl verifies the certificate against the CA and the name: only the right backend can answer.
  const get = (name: string, port: number): Promise<string> => mesh.curl('--cacert', caFile, '--resolve', `${name}:${port}:${v}`, `https://${name}:${port}/`);
  for (const port of [443, 8443]) {
    assert.equal(await get('a.example.com', port), 'A', `a.example.com:${port}`);
    assert.equal(await get('b.example.com', port), 'B', `b.example.com:${port}`);
    assert.equal(await get('default.example.com', port), 'front', `no tls route matches on ${port}: the service itself`);
  }
  const m = await mesh.metrics();
  const opened = (svc: string): number => metricSum(m, 'istio_tcp_connections_opened_total', { reporter: 'source', destination_service_name: svc });
  assert.equal(opened('back-a'), 2);
  assert.equal(opened('back-b'), 2);
  assert.ok(opened('front') >= 2);
});
