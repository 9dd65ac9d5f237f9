// The upstream protocol across nodes: the source engine chooses it (HTTP port: HTTP/1.1 for an h2
// client; h2UpgradePolicy UPGRADE: h2c for an HTTP/1 client), the tunnel carries the request in it, and
// the destination side delivers it to the pod as it came.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { Metrics } from '../../src/telemetry/metrics';
import { shopService } from '../helpers/cluster-config';
import { dr, h2connect, h2request, H2Harness, host, meshOf } from './fixtures/h2-harness';
import { eventually, request, sample } from './proxy-helpers';
import { CLIENT_ID, CLIENT_IP, SERVER_ID, destinationConfig, h2cPod, listenOn, pki } from './tunnel-harness';
import { destinationNode, type DestinationNode } from './tunnel-node';

const WEB_VIP = '127.0.109.1';
const UP_VIP = '127.0.109.2';

describe('upstream protocol across the tunnel: the source chooses, the destination delivers', () => {
  let node: DestinationNode;
  let source: H2Harness;
  let h1Pod: http.Server;
  let h2Pod: http2.Http2Server;
  const destination = new Metrics({ cluster: 'Kubernetes' });

  before(async () => {
    const p = await pki([CLIENT_ID, SERVER_ID]);
    // An HTTP/1-only pod and an h2c-only pod.
    h1Pod = http.createServer((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`${req.httpVersion} ${req.method} ${req.url} host ${req.headers.host} body ${n}`));
    });
    const h1Addr = await listenOn(h1Pod);
    h2Pod = h2cPod((s, h) => {
      s.respond({ ':status': 200 });
      s.end(`h2 ${String(h[':method'])} ${String(h[':path'])} authority ${String(h[':authority'])}`);
    });
    const h2Addr = await listenOn(h2Pod);

    // The destination node's view: the pods on node-0 behind two HTTP ports, the client on node-1.
    const content = destinationConfig([shopService('web', '10.96.0.20', 80, 'HTTP', h1Addr.port), shopService('up', '10.96.0.21', 80, 'HTTP', h2Addr.port)]);
    node = await destinationNode(p, content, destination);
    const routes = node.routes;

    // The source node: both services on HTTP ports, `up` with h2UpgradePolicy UPGRADE; every endpoint
    // is reached through the tunnel.
    const cfg = meshOf(
      [
        { name: 'web', vip: WEB_VIP, endpoints: [h1Addr], portName: 'http' },
        { name: 'up', vip: UP_VIP, endpoints: [h2Addr], portName: 'http' },
      ],
      [dr('up', host('up'), { trafficPolicy: { connectionPool: { http: { h2UpgradePolicy: 'UPGRADE' } } } })],
    );
    source = new H2Harness(cfg, { engine: { dial: (_client, target) => routes.ensure({ identity: CLIENT_ID, client: { address: CLIENT_IP, port: 0 }, target }) } });
  });

  after(async () => {
    await source?.close();
    await node?.close();
    h1Pod?.close();
    h2Pod?.close();
  });

  test('an h2 client on an HTTP port reaches an HTTP/1-only pod as HTTP/1.1 through the tunnel', async () => {
    const client = h2connect(await source.entry(WEB_VIP));
    try {
      const get = await h2request(client, { ':path': '/get', ':authority': 'web.example' });
      assert.equal(get.status, 200);
      assert.equal(get.body.toString(), '1.1 GET /get host web.example body 0');
      const post = await h2request(client, { ':path': '/post', ':authority': 'web.example' }, Buffer.alloc(100_000, 'p'));
      assert.equal(post.status, 200);
      assert.equal(post.body.toString(), '1.1 POST /post host web.example body 100000');
    } finally {
      client.close();
    }
  });

  test('h2UpgradePolicy UPGRADE: an HTTP/1 client reaches an h2c-only pod through the tunnel', async () => {
    const r = await request(await source.h1entry(UP_VIP), { path: '/up', headers: { host: 'up.example' } });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'h2 GET /up authority up.example');
    const post = await request(await source.h1entry(UP_VIP), { path: '/upload', method: 'POST', headers: { host: 'up.example' }, body: 'x'.repeat(5000) });
    assert.equal(post.status, 200);
    assert.equal(post.body, 'h2 POST /upload authority up.example');
    // Every request crossed the tunnel: the destination side recorded it.
    await eventually(async () => (await sample(destination, 'istio_requests_total', { reporter: 'destination', response_code: '200' })) === 4, 'four requests at the destination');
  });
});
