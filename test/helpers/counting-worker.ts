// A stand-in proxy worker that counts: speaks workers/protocol.ts like stub-worker.ts, over a real
// Metrics registry. Each scrape first records 10 requests to shop/cart (so every answer is higher than
// the one before), then answers with the registry's JSON, as a worker does. The config "exit-N" makes
// worker N exit right after it commits (the pool restarts it, from zero). A 'state' request is answered
// with the worker's index (a test waits for a replacement to answer with it).
import { parentPort, workerData } from 'node:worker_threads';
import type { Service } from '../../src/config/model';
import { UNKNOWN_SOURCE } from '../../src/telemetry/labels';
import { Metrics } from '../../src/telemetry/metrics';
import type { FromWorker, ToWorker, WorkerInit } from '../../src/workers/protocol';

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (m: FromWorker): void => port.postMessage(m);
const prepared = new Map<number, string>();
const metrics = new Metrics();
const CART = {
  key: 'shop/cart', id: 1, name: 'cart', namespace: 'shop', hosts: ['cart.shop.svc.cluster.local'], addresses: [], ports: [], dataplane: 'proxy', endpoints: [], labels: {},
} as unknown as Service;
const cart = metrics.http(UNKNOWN_SOURCE, CART, undefined);

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'prepare':
    case 'install':
      prepared.set(m.gen, m.config.source.hash);
      return send(m.t === 'prepare' ? { t: 'prepared', gen: m.gen } : { t: 'committed', gen: m.gen });
    case 'commit':
      if (!prepared.has(m.gen)) return;
      send({ t: 'committed', gen: m.gen });
      if (prepared.get(m.gen) === `exit-${init.index}`) setTimeout(() => process.exit(3), 10);
      return;
    case 'abort':
      prepared.delete(m.gen);
      return;
    case 'listen':
      return send({ t: 'reply', id: m.id, value: { fd: undefined, port: m.port || 40000 } });
    case 'scrape':
      for (let i = 0; i < 10; i++) cart.record(200, '-', 3, 10, 20);
      void metrics.registry.getMetricsAsJSON().then((value) => send({ t: 'reply', id: m.id, value }));
      return;
    case 'state':
      return send({ t: 'reply', id: m.id, value: { index: init.index } });
    case 'ping':
      return send({ t: 'reply', id: m.id, value: undefined });
    case 'close':
      send({ t: 'reply', id: m.id, value: undefined });
      port.close();
      return;
    default:
      return;
  }
});
send({ t: 'booted', tunnelPort: init.tunnelPort || 41000 });
