// Same-node delivery without the tunnel: the outbound listener picks a pod of this node and the one
// record of each finished request or connection yields both reporters' series: reporter="source" and
// reporter="destination", with the real source workload, both principals, the cluster labels and the
// security policy of a plaintext delivery (unknown on the source side, none on the destination side).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { once } from 'node:events';
import type { Addr } from '../../src/capture/types';
import { deliveryView } from '../../src/state/delivery';
import { Topology } from '../../src/state/topology';
import { DISABLED_ACCESS_LOG } from '../../src/telemetry/accesslog';
import { Metrics } from '../../src/telemetry/metrics';
import { meshConfig, shopService, shopWorkload } from '../helpers/cluster-config';
import { buildMesh, startOutbound, type OutboundSide } from './outbound-harness';
import { eventually, sample, startBackend, type Backend } from './proxy-helpers';

/** Loopback holds all of 127/8: the client pod's own address, told apart from the backend's 127.0.0.1. */
const CLIENT_IP = '127.0.0.5';
const WEB: Addr = { address: '127.0.108.1', port: 80 };
const ECHO: Addr = { address: '127.0.108.2', port: 9000 };

function config(webPort: number, echoPort: number): string {
  const v1 = { version: 'v1' };
  return meshConfig({
    workloads: [shopWorkload('frontend', CLIENT_IP, 'node-0', 'frontend', v1), shopWorkload('backend', '127.0.0.1', 'node-0', 'backend', v1)],
    services: [shopService('web', WEB.address, WEB.port, 'HTTP', webPort), shopService('echo', ECHO.address, ECHO.port, 'TCP', echoPort)],
  });
}

describe('same-node delivery is reported by both reporters', () => {
  let backend: Backend;
  let echo: net.Server;
  let metrics: Metrics;
  let outbound: OutboundSide;

  before(async () => {
    backend = await startBackend('backend');
    echo = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    const built = buildMesh(config(backend.addr.port, (echo.address() as net.AddressInfo).port));
    // No Node documents: no tunnel, every endpoint is dialled directly; the workloads of node-0 are this
    // agent's pods, so a pick of one is a local delivery.
    metrics = new Metrics({ cluster: 'Kubernetes' });
    metrics.setDelivery(deliveryView(new Topology(built, 'node-0', 'cluster.local'), new Map()));
    outbound = await startOutbound(built, [WEB, ECHO], { metrics, accessLog: DISABLED_ACCESS_LOG });
  });

  after(async () => {
    await outbound?.close();
    await backend?.close();
    echo?.close();
  });

  const both = {
    source_workload: 'frontend',
    source_workload_namespace: 'shop',
    source_app: 'frontend',
    source_principal: 'cluster.local/ns/shop/sa/frontend',
    source_cluster: 'Kubernetes',
    destination_workload: 'backend',
    destination_workload_namespace: 'shop',
    destination_principal: 'cluster.local/ns/shop/sa/backend',
    destination_cluster: 'Kubernetes',
  };

  test('HTTP: one request, a source and a destination series with the same numbers', async () => {
    const at = outbound.listeners[0]!.address();
    for (let i = 0; i < 3; i++) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: at.address, port: at.port, localAddress: CLIENT_IP, path: `/r${i}`, method: 'POST', headers: { host: 'web.shop.svc.cluster.local' }, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end('hello');
      });
      assert.equal(status, 200);
    }
    const web = { ...both, destination_service_name: 'web', request_protocol: 'http', response_code: '200', response_flags: '-' };
    assert.equal(await sample(metrics, 'istio_requests_total', { ...web, reporter: 'source', connection_security_policy: 'unknown' }), 3);
    assert.equal(await sample(metrics, 'istio_requests_total', { ...web, reporter: 'destination', connection_security_policy: 'none' }), 3);
    for (const reporter of ['source', 'destination']) {
      assert.equal(await sample(metrics, 'istio_request_bytes_sum', { ...web, reporter }), 15, reporter);
      assert.equal(await sample(metrics, 'istio_request_duration_milliseconds_count', { ...web, reporter }), 3, reporter);
      assert.ok((await sample(metrics, 'istio_response_bytes_sum', { ...web, reporter })) > 0, reporter);
    }
  });

  test('TCP: opened, bytes and closed on both sides', async () => {
    const at = outbound.listeners[1]!.address();
    const echoed = await new Promise<string>((resolve, reject) => {
      const s = net.connect({ host: at.address, port: at.port, localAddress: CLIENT_IP }, () => s.end('ping-pong'));
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
    assert.equal(echoed, 'ping-pong');
    const tcp = { ...both, destination_service_name: 'echo', request_protocol: 'tcp' };
    await eventually(async () => (await sample(metrics, 'istio_tcp_connections_closed_total', { ...tcp, reporter: 'destination' })) === 1, 'destination close counted');
    for (const [reporter, policy] of [['source', 'unknown'], ['destination', 'none']] as const) {
      const l = { ...tcp, reporter, connection_security_policy: policy };
      assert.equal(await sample(metrics, 'istio_tcp_connections_opened_total', l), 1, reporter);
      assert.equal(await sample(metrics, 'istio_tcp_connections_closed_total', l), 1, reporter);
      assert.equal(await sample(metrics, 'istio_tcp_received_bytes_total', l), 9, reporter);
      assert.equal(await sample(metrics, 'istio_tcp_sent_bytes_total', l), 9, reporter);
    }
  });
});
