// TLS passed through by SNI (VirtualService tls routes), in process on loopback: the listener reads the
// ClientHello without consuming it, routes by its server name and splices the untouched TLS to the
// chosen service's endpoint, whose certificate the client then verifies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { once } from 'node:events';
import type { Addr } from '../../src/capture/types';
import type { Endpoint, MeshConfig, PortProtocol, Service } from '../../src/config/model';
import type { TlsRoute } from '../../src/config/traffic';
import { makeCa, makeLeaf, type Ca } from '../helpers/tls-pki';
import { hello } from '../unit/codec/tlshello-fixtures';
import { eventually, sample, startProxy, VIP } from './proxy-helpers';
import { ServiceIndex } from '../../src/state/services';

interface TlsBackend {
  readonly name: string;
  readonly addr: Addr;
  /** TCP connections accepted (whether or not a handshake followed). */
  accepted: number;
  close(): Promise<void>;
}

/** A TLS server for DNS name NAME that answers its name and closes. */
async function tlsBackend(ca: Ca, name: string, dns: string): Promise<TlsBackend> {
  const leaf = await makeLeaf(ca, { dns: [dns] });
  const server = tls.createServer({ key: leaf.key, cert: leaf.cert }, (s) => {
    s.on('error', () => undefined);
    s.end(`${name}:${s.servername || '-'}`);
  });
  server.on('tlsClientError', () => undefined);
  const sockets = new Set<net.Socket>();
  const b = { name, accepted: 0 } as TlsBackend & { addr: Addr };
  server.on('connection', (s: net.Socket) => {
    b.accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  b.addr = { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  b.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return b;
}

function service(name: string, addr: Addr, id: number, protocol: PortProtocol | undefined, vip?: string): Service {
  const ep: Endpoint = { address: addr.address, ports: { tls: addr.port }, labels: { app: name }, namespace: 'default', serviceAccount: undefined, workload: name, node: undefined, weight: 1 };
  return {
    key: `default/${name}`,
    id,
    name,
    namespace: 'default',
    hosts: [`${name}.default.svc.cluster.local`],
    addresses: vip === undefined ? [`127.0.100.${10 + id}`] : [vip],
    ports: [{ number: VIP.port, name: 'tls', protocol, targetPort: addr.port }],
    dataplane: 'proxy',
    endpoints: [ep],
    labels: {},
  };
}

/** front (the VIP; its own endpoint serves default.example.com) routed by SNI to back-a and back-b. */
function config(front: TlsBackend, a: TlsBackend, b: TlsBackend, protocol: PortProtocol | undefined): MeshConfig {
  const to = (name: string): TlsRoute['route'][number] => ({ destination: { host: name, service: `default/${name}`, port: VIP.port }, weight: 100 });
  const routes: TlsRoute[] = [
    { match: [{ sniHosts: ['a.example.com'] }], route: [to('back-a')] },
    { match: [{ sniHosts: ['*.b.example.com', 'b.example.com'] }], route: [to('back-b')] },
  ];
  return {
    services: [service('front', front.addr, 1, protocol, VIP.address), service('back-a', a.addr, 2, protocol), service('back-b', b.addr, 3, protocol)],
    workloads: [],
    nodes: [],
    peerAuthentications: [],
    authorizationPolicies: [],
    traffic: { virtualServices: [{ name: 'front', namespace: 'default', services: ['default/front'], http: [], tcp: [], tls: routes }], destinationRules: [], rateLimits: [] },
    source: { files: [], hash: 'test' },
  };
}

/** Connects with SNI, verifies the server certificate against CA, returns the answer and the certificate's SANs. */
function fetchTls(addr: Addr, ca: Ca, servername: string | undefined): Promise<{ answer: string; san: string }> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const c = tls.connect({ host: addr.address, port: addr.port, ca: ca.pem, ...(servername === undefined ? { checkServerIdentity: () => undefined } : { servername }) }, () => {
      const san = c.getPeerCertificate().subjectaltname ?? '';
      c.setEncoding('utf8');
      c.on('data', (d: string) => (answer += d));
      c.on('end', () => {
        c.end();
        resolve({ answer, san });
      });
    });
    c.on('error', reject);
  });
}

async function setup(t: { after(fn: () => Promise<void>): void }, protocol: PortProtocol | undefined, detectMs = 1_000) {
  const ca = await makeCa();
  const front = await tlsBackend(ca, 'front', 'default.example.com');
  const a = await tlsBackend(ca, 'A', 'a.example.com');
  const b = await tlsBackend(ca, 'B', '*.b.example.com');
  const proxy = await startProxy(config(front, a, b, protocol), { timeouts: { detectMs } });
  t.after(async () => {
    await proxy.close();
    await Promise.all([front.close(), a.close(), b.close()]);
  });
  return { ca, front, a, b, proxy };
}

for (const protocol of ['TLS', 'HTTPS', undefined] as const) {
  test(`SNI picks the backend, TLS passes through (port protocol ${protocol ?? 'sniffed'})`, async (t) => {
    const { ca, proxy } = await setup(t, protocol);
    assert.deepEqual(await fetchTls(proxy.addr, ca, 'a.example.com'), { answer: 'A:a.example.com', san: 'DNS:a.example.com' });
    assert.deepEqual(await fetchTls(proxy.addr, ca, 'x.b.example.com'), { answer: 'B:x.b.example.com', san: 'DNS:*.b.example.com' });
    // No tls route matches: the service's own endpoint, as without a VirtualService.
    const other = await fetchTls(proxy.addr, ca, 'default.example.com');
    assert.deepEqual(other, { answer: 'front:default.example.com', san: 'DNS:default.example.com' });
    const none = await fetchTls(proxy.addr, ca, undefined);
    assert.equal(none.answer, 'front:-');
    // TCP metrics name the chosen destination.
    const opened = (svc: string): Promise<number> => sample(proxy.metrics, 'istio_tcp_connections_opened_total', { reporter: 'source', destination_service_name: svc });
    await eventually(async () => (await opened('back-a')) === 1 && (await opened('back-b')) === 1 && (await opened('front')) === 2, 'tcp metrics by destination');
  });
}

for (const protocol of ['TLS', undefined] as const) {
  test(`a ClientHello sent in pieces waits for the rest; its bytes reach the backend unchanged (${protocol ?? 'sniffed'})`, async (t) => {
    const { a, front, proxy } = await setup(t, protocol);
    const bytes = hello('openssl_a'); // SNI a.example.com
    const c = net.connect(proxy.addr.port, proxy.addr.address);
    c.on('error', () => undefined);
    await once(c, 'connect');
    c.write(bytes.subarray(0, 3));
    await new Promise((r) => setTimeout(r, 50));
    c.write(bytes.subarray(3, 100));
    await new Promise((r) => setTimeout(r, 50));
    c.write(bytes.subarray(100));
    // The backend answers a real ClientHello with a ServerHello (a handshake record).
    const [first] = (await once(c, 'data')) as [Buffer];
    assert.equal(first[0], 0x16);
    assert.equal(a.accepted, 1);
    assert.equal(front.accepted, 0);
    c.destroy();
  });
}

test('a malformed hello, a non-TLS client and a stalled hello go to the service itself; nothing crashes', async (t) => {
  const { a, b, front, proxy } = await setup(t, 'TLS', 150);
  const send = async (data: Buffer): Promise<void> => {
    const c = net.connect(proxy.addr.port, proxy.addr.address);
    c.on('error', () => undefined);
    await once(c, 'connect');
    c.write(data);
    await eventually(() => front.accepted > sent, 'routed to the service itself');
    sent = front.accepted;
    c.destroy();
  };
  let sent = 0;
  const broken = Buffer.from(hello('openssl_a'));
  broken[43] = 0xff; // session id length 255
  await send(broken);
  await send(Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
  await send(hello('openssl_a').subarray(0, 40)); // the rest never comes: the detection wait runs out
  // Half of a hello, then FIN: the bytes read so far still reach the upstream.
  const received = new Promise<Buffer>((resolve) => {
    const seen: Buffer[] = [];
    const echo = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('data', (d: Buffer) => seen.push(d));
      s.on('end', () => {
        s.end();
        echo.close();
        resolve(Buffer.concat(seen));
      });
    });
    echo.listen(0, '127.0.0.1', () => {
      const port = (echo.address() as net.AddressInfo).port;
      proxy.index = new ServiceIndex(withFrontAt(proxy.index.config, port));
      const c = net.connect(proxy.addr.port, proxy.addr.address, () => c.end(hello('openssl_a').subarray(0, 60)));
      c.on('error', () => undefined);
      c.resume();
    });
  });
  assert.deepEqual(await received, hello('openssl_a').subarray(0, 60));
  assert.equal(a.accepted + b.accepted, 0);
  assert.equal(await sample(proxy.metrics, 'istio_tcp_connections_opened_total', { destination_service_name: 'front' }), 4);
});

/** CFG with front's endpoint moved to 127.0.0.1:PORT. */
function withFrontAt(cfg: MeshConfig, port: number): MeshConfig {
  const services = cfg.services.map((s) => (s.name !== 'front' ? s : { ...s, ports: s.ports.map((p) => ({ ...p, targetPort: port })), endpoints: s.endpoints.map((e) => ({ ...e, ports: { tls: port } })) }));
  return { ...cfg, services };
}
