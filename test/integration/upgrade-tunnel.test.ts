// WebSocket upgrades across nodes: the source agent's try runs through the mTLS tunnel to the
// destination agent, which serves HTTP/1 again with the same upgrade handling: the 101 comes back, the
// bytes flow both ways through both agents, each side records the request once (code 101), and the
// destination's authorization applies to the handshake as to any request (403).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BalancerSet } from '../../src/balance/set';
import { createOutboundListener, type OutboundListener } from '../../src/downstream/outbound';
import { ServiceIndex } from '../../src/state/services';
import { DISABLED_ACCESS_LOG } from '../../src/telemetry/accesslog';
import { Metrics } from '../../src/telemetry/metrics';
import { allowFrom, shopService } from '../helpers/cluster-config';
import { meshOf } from './fixtures/h2-harness';
import { eventually, sample } from './proxy-helpers';
import { CLIENT_ID, CLIENT_IP, SERVER_ID, destinationConfig, pki } from './tunnel-harness';
import { destinationNode, type DestinationNode } from './tunnel-node';
import { handshake, rawClient, wsEndpoint, type WsEndpoint } from './upgrade-helpers';

const WEB_VIP = '127.0.111.1';

describe('WebSocket upgrades through the mesh tunnel', () => {
  let node: DestinationNode;
  let listener: OutboundListener;
  let pod: WsEndpoint;
  const destination = new Metrics({ cluster: 'Kubernetes' });
  const source = new Metrics();

  before(async () => {
    const p = await pki([CLIENT_ID, SERVER_ID]);
    pod = await wsEndpoint();
    const content = destinationConfig(
      [shopService('web', '10.96.0.30', 80, 'HTTP', pod.addr.port)],
      [allowFrom('frontend-not-denied', 'shop', 'backend', [CLIENT_ID.replace('spiffe://', '')], [{ operation: { notPaths: ['/denied*'] } }])],
    );
    node = await destinationNode(p, content, destination);
    const routes = node.routes;
    // The source node: the real HTTP/1 listener, every endpoint reached through the tunnel.
    const index = new ServiceIndex(meshOf([{ name: 'web', vip: WEB_VIP, endpoints: [pod.addr], portName: 'http' }]));
    listener = await createOutboundListener({
      host: '127.0.0.1',
      port: 0,
      deps: {
        originalDst: () => ({ address: WEB_VIP, port: 80 }),
        index: () => index,
        metrics: source,
        balancers: new BalancerSet(),
        timeouts: { detectMs: 1_000, downstreamIdleMs: 100, requestMs: 100 },
        accessLog: DISABLED_ACCESS_LOG,
        dial: (_client, target) => routes.ensure({ identity: CLIENT_ID, client: { address: CLIENT_IP, port: 0 }, target }),
      },
    });
  });

  after(async () => {
    await listener?.close(0);
    await node?.close();
    await pod?.close();
  });

  test('the 101 comes back through both agents, bytes flow both ways, half-close ends it, each side records once', async () => {
    const c = await rawClient(listener.address());
    c.socket.write(handshake('/ws'));
    await c.waitFor(/^HTTP\/1\.1 101 [^]*\r\n\r\nhello/);
    // Quiet for longer than the source side's idle and request timeouts.
    await new Promise((r) => setTimeout(r, 300));
    c.socket.write('ping');
    await c.waitFor(/echo:ping/);
    assert.match(pod.heads.at(-1)!, /\r\nupgrade: websocket\r\n/i);
    c.socket.end();
    await c.waitFor(/bye$/);
    await c.closed;
    await eventually(async () => (await sample(source, 'istio_requests_total', { response_code: '101' })) === 1, 'the source side recorded it');
    await eventually(async () => (await sample(destination, 'istio_requests_total', { reporter: 'destination', response_code: '101' })) === 1, 'the destination side recorded it');
  });

  test('a handshake the destination denies is answered 403 and never reaches the pod', async () => {
    const before = pod.heads.length;
    const c = await rawClient(listener.address());
    c.socket.write(handshake('/denied'));
    await c.waitFor(/^HTTP\/1\.1 403 [^]*\r\n\r\n/);
    assert.doesNotMatch(c.text(), /upgrade: websocket/i);
    c.socket.destroy();
    assert.equal(pod.heads.length, before);
    await eventually(async () => (await sample(destination, 'istio_requests_total', { reporter: 'destination', response_code: '403', response_flags: 'DENY' })) === 1, 'denied at the destination');
  });
});
