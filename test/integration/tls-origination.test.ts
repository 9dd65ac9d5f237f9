// TLS origination through the outbound listener, in-process on loopback: the client speaks plaintext
// HTTP (or raw TCP) to the service, the agent opens TLS to a node:tls backend. SIMPLE with the CA and
// the default SNI, MUTUAL to a server that requires a client certificate, a wrong SAN and an untrusted
// CA refused as 503 UF with the reason in the access log, a certificate file removed at runtime, HTTP/2
// with ALPN h2, and opaque TCP over TLS.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { once } from 'node:events';
import type { Addr } from '../../src/capture/types';
import type { MeshConfig } from '../../src/config/model';
import { docs, loadText } from '../unit/config/helpers';
import { collectAccessLog } from '../helpers/access-lines';
import { makeCa, makeLeaf, writeFiles, type Ca, type Leaf } from '../helpers/tls-pki';
import { eventually, request, sample, startProxy, VIP, type Proxy } from './proxy-helpers';

const HOST = 'api.example.test';
let ca: Ca;
let server: Leaf;
let client: Leaf;
let files: ReturnType<typeof writeFiles>;

before(async () => {
  ca = await makeCa();
  const stranger = await makeCa('some other ca');
  server = await makeLeaf(ca, { dns: [HOST] });
  client = await makeLeaf(ca, { dns: ['client.test'], cn: 'the-client' });
  files = writeFiles({ 'ca.pem': ca.pem, 'client.pem': client.cert, 'client-key.pem': client.key, 'stranger.pem': stranger.pem });
});
after(() => files.cleanup());

interface Seen {
  servername: string | false | undefined;
  alpn: string | false | null | undefined;
  peer: string | undefined;
}

/** An HTTPS backend that answers with what it saw of the TLS connection. */
async function httpsBackend(requireClientCert: boolean): Promise<{ addr: Addr; seen: Seen[]; handshakes: () => number; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  let handshakes = 0;
  const srv = https.createServer({ key: server.key, cert: server.cert, ca: ca.pem, requestCert: requireClientCert, rejectUnauthorized: requireClientCert }, (req, res) => {
    const s = req.socket as tls.TLSSocket;
    const peer = requireClientCert ? (s.getPeerCertificate().subject?.CN as string | undefined) : undefined;
    seen.push({ servername: (s as tls.TLSSocket & { servername?: string | false }).servername, alpn: s.alpnProtocol, peer });
    res.end(JSON.stringify({ url: req.url, peer }));
  });
  srv.on('secureConnection', () => handshakes++);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = { address: '127.0.0.1', port: (srv.address() as net.AddressInfo).port };
  return { addr, seen, handshakes: () => handshakes, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }) };
}

function config(port: number, protocol: string, tlsSettings: Record<string, unknown>): MeshConfig {
  const r = loadText(
    docs(
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'ServiceEntry',
        metadata: { name: 'api' },
        spec: { hosts: [HOST], addresses: [VIP.address], ports: [{ number: VIP.port, name: 'p', protocol, targetPort: port }], resolution: 'STATIC', endpoints: [{ address: '127.0.0.1' }] },
      },
      { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'api' }, spec: { host: HOST, trafficPolicy: { tls: tlsSettings } } },
    ),
  );
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.field}: ${i.message}`).join('\n'));
  return r.config;
}

async function withProxy(cfg: MeshConfig, fn: (p: Proxy, lines: Record<string, unknown>[]) => Promise<void>): Promise<void> {
  const { accessLog, lines } = collectAccessLog();
  const p = await startProxy(cfg, { accessLog });
  try {
    await fn(p, lines);
  } finally {
    await p.close();
  }
}

test('SIMPLE: plaintext in, TLS to the endpoint with the service host as SNI and ALPN http/1.1; connections pooled', async () => {
  const b = await httpsBackend(false);
  try {
    await withProxy(config(b.addr.port, 'HTTP', { mode: 'SIMPLE', caCertificates: files.path('ca.pem') }), async (p) => {
      for (const path of ['/one', '/two']) {
        const r = await request(p.addr, { path, headers: { host: HOST } });
        assert.equal(r.status, 200, r.body);
        assert.equal(JSON.parse(r.body).url, path);
      }
      assert.deepEqual(b.seen.map((s) => [s.servername, s.alpn]), [[HOST, 'http/1.1'], [HOST, 'http/1.1']]);
      assert.equal(b.handshakes(), 1, 'the second request reused the pooled TLS connection');
    });
  } finally {
    await b.close();
  }
});

test('MUTUAL: the server that requires a client certificate gets ours', async () => {
  const b = await httpsBackend(true);
  try {
    const tlsSettings = { mode: 'MUTUAL', caCertificates: files.path('ca.pem'), clientCertificate: files.path('client.pem'), privateKey: files.path('client-key.pem'), subjectAltNames: [HOST] };
    await withProxy(config(b.addr.port, 'HTTP', tlsSettings), async (p) => {
      const r = await request(p.addr, { path: '/m', headers: { host: HOST } });
      assert.equal(r.status, 200, r.body);
      assert.equal(JSON.parse(r.body).peer, 'the-client');
    });
  } finally {
    await b.close();
  }
});

test('a server certificate outside subjectAltNames, or from another CA, is refused: 503 UF, reason logged', async () => {
  const b = await httpsBackend(false);
  try {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ mode: 'SIMPLE', caCertificates: files.path('ca.pem'), subjectAltNames: ['billing.example.test'] }, /match none of subjectAltNames \[billing\.example\.test\]/],
      [{ mode: 'SIMPLE', caCertificates: files.path('stranger.pem') }, /unable to verify|self.signed|issuer/i],
      [{ mode: 'SIMPLE', caCertificates: files.path('ca.pem'), sni: 'wrong.example.test' }, /Hostname\/IP does not match/],
    ];
    for (const [tlsSettings, reason] of cases) {
      await withProxy(config(b.addr.port, 'HTTP', tlsSettings), async (p, lines) => {
        const r = await request(p.addr, { path: '/x', headers: { host: HOST } });
        assert.equal(r.status, 503, JSON.stringify(tlsSettings));
        await eventually(() => lines.length === 1, 'one access-log line');
        assert.equal(lines[0]!['response_flags'], 'UF');
        assert.match(String(lines[0]!['connection_termination_details']), reason);
        assert.equal(await sample(p.metrics, 'istio_requests_total', { response_code: '503', response_flags: 'UF' }), 1);
      });
    }
    assert.equal(b.seen.length, 0, 'no request reached the backend');
    // insecureSkipVerify takes the untrusted certificate.
    await withProxy(config(b.addr.port, 'HTTP', { mode: 'SIMPLE', insecureSkipVerify: true }), async (p) => {
      assert.equal((await request(p.addr, { headers: { host: HOST } })).status, 200);
    });
  } finally {
    await b.close();
  }
});

test('a certificate file removed after the config loaded: 503 UF naming the field, back once it returns', async () => {
  const b = await httpsBackend(true);
  const own = writeFiles({ 'ca.pem': ca.pem, 'client.pem': client.cert, 'client-key.pem': client.key });
  try {
    const tlsSettings = { mode: 'MUTUAL', caCertificates: own.path('ca.pem'), clientCertificate: own.path('client.pem'), privateKey: own.path('client-key.pem') };
    await withProxy(config(b.addr.port, 'HTTP', tlsSettings), async (p, lines) => {
      fs.rmSync(own.path('client-key.pem'));
      // The file is looked at again at most once a second.
      await new Promise((r) => setTimeout(r, 1_100));
      const r = await request(p.addr, { headers: { host: HOST } });
      assert.equal(r.status, 503);
      await eventually(() => lines.length === 1, 'one access-log line');
      assert.equal(lines[0]!['response_flags'], 'UF');
      assert.match(String(lines[0]!['connection_termination_details']), /tls\.privateKey ".*client-key\.pem" cannot be read \(ENOENT\)/);
      fs.writeFileSync(own.path('client-key.pem'), client.key);
      await new Promise((r) => setTimeout(r, 1_100));
      assert.equal((await request(p.addr, { headers: { host: HOST } })).status, 200);
    });
  } finally {
    own.cleanup();
    await b.close();
  }
});

test('HTTP/2 clients: the upstream session is TLS with ALPN h2 and :scheme https', async () => {
  const seen: { alpn: string | false | null; scheme: string | undefined }[] = [];
  const srv = http2.createSecureServer({ key: server.key, cert: server.cert }, (req, res) => {
    seen.push({ alpn: (req.socket as tls.TLSSocket).alpnProtocol, scheme: req.scheme });
    res.end('h2 ok');
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  try {
    const get = async (p: Proxy): Promise<{ status: number; body: string }> => {
      const session = http2.connect(`http://${p.addr.address}:${p.addr.port}`);
      try {
        return await new Promise((resolve, reject) => {
          const s = session.request({ ':path': '/h2', ':authority': HOST });
          let text = '';
          let status = 0;
          s.setEncoding('utf8');
          s.on('response', (h) => (status = Number(h[':status'])));
          s.on('data', (c: string) => (text += c));
          s.on('end', () => resolve({ status, body: text }));
          s.on('error', reject);
          s.end();
        });
      } finally {
        session.close();
      }
    };
    const port = (srv.address() as net.AddressInfo).port;
    await withProxy(config(port, 'HTTP2', { mode: 'SIMPLE', caCertificates: files.path('ca.pem') }), async (p) => {
      assert.deepEqual(await get(p), { status: 200, body: 'h2 ok' });
      assert.deepEqual(seen, [{ alpn: 'h2', scheme: 'https' }]);
    });
    // A refused server and a missing file are connect failures on HTTP/2 as well.
    for (const tlsSettings of [
      { mode: 'SIMPLE', caCertificates: files.path('ca.pem'), subjectAltNames: ['other.test'] },
      { mode: 'MUTUAL', caCertificates: files.path('ca.pem'), clientCertificate: files.path('client.pem'), privateKey: files.path('client-key.pem') },
    ]) {
      const own = writeFiles({ 'key.pem': client.key });
      const cfg = config(port, 'HTTP2', tlsSettings.mode === 'MUTUAL' ? { ...tlsSettings, privateKey: own.path('key.pem') } : tlsSettings);
      own.cleanup();
      await withProxy(cfg, async (p, lines) => {
        assert.equal((await get(p)).status, 503);
        await eventually(() => lines.length === 1, 'one access-log line');
        assert.equal(lines[0]!['response_flags'], 'UF', JSON.stringify(lines[0]));
      });
    }
    assert.equal(seen.length, 1);
  } finally {
    srv.close();
  }
});

test('opaque TCP: bytes go through TLS to the endpoint (no ALPN); a wrong SAN closes the connection', async () => {
  const alpns: (string | false | null)[] = [];
  const srv = tls.createServer({ key: server.key, cert: server.cert }, (s) => {
    alpns.push(s.alpnProtocol);
    s.on('data', (d: Buffer) => s.write(Buffer.from(d.toString().toUpperCase())));
    s.on('end', () => s.end());
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  const talk = async (addr: Addr): Promise<string> => {
    const c = net.connect(addr.port, addr.address);
    let text = '';
    c.on('data', (d: Buffer) => (text += d.toString()));
    c.on('error', () => undefined);
    await once(c, 'connect');
    c.end('hello over tls');
    await once(c, 'close');
    return text;
  };
  try {
    await withProxy(config(port, 'TCP', { mode: 'SIMPLE', caCertificates: files.path('ca.pem') }), async (p) => {
      assert.equal(await talk(p.addr), 'HELLO OVER TLS');
    });
    assert.deepEqual(alpns, [false]);
    await withProxy(config(port, 'TCP', { mode: 'SIMPLE', caCertificates: files.path('ca.pem'), subjectAltNames: ['nope.test'] }), async (p, lines) => {
      assert.equal(await talk(p.addr), '');
      await eventually(() => lines.length === 1, 'one access-log line');
      assert.equal(lines[0]!['response_flags'], 'UF');
    });
  } finally {
    srv.close();
  }
});
