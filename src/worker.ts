// Entry of a proxy worker thread (worker_threads): builds its DataPlane from workerData and answers
// the main thread's messages (workers/protocol.ts). A worker that throws at start exits; the main
// thread reports it and starts another.
import { parentPort, workerData } from 'node:worker_threads';
import { Counter } from 'prom-client';
import { DataPlane } from './dataplane';
import { CATALOG } from './errors';
import { flushLogs, logger } from './log';
import type { FromWorker, ToWorker, WorkerInit } from './workers/protocol';

const init = workerData as WorkerInit;
const log = logger('worker').child({ worker: init.index });
const port = parentPort!;
const send = (m: FromWorker): void => port.postMessage(m);

async function answer(id: number, work: () => Promise<unknown> | unknown): Promise<void> {
  try {
    send({ t: 'reply', id, value: await work() });
  } catch (e) {
    send({ t: 'reply', id, value: undefined, error: (e as Error).message ?? String(e) });
  }
}

async function run(): Promise<void> {
  const dp = await DataPlane.start(init, (ejection) => send({ t: 'ejected', ejection }));
  // Requests per worker: how evenly the kernel spreads connections over the reuseport group.
  new Counter({
    name: 'nodemesh_worker_requests_total',
    help: 'HTTP and gRPC requests a proxy worker handled (all services), by worker',
    labelNames: ['worker'],
    registers: [dp.metrics.registry],
    collect() {
      this.reset();
      this.inc({ worker: String(init.index) }, dp.requestCount());
    },
  });
  port.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'prepare':
      case 'install':
        try {
          dp.prepare(m.gen, m.config, m.partial, m.rateTable);
          if (m.t === 'install') dp.commit(m.gen);
          send({ t: m.t === 'install' ? 'committed' : 'prepared', gen: m.gen });
        } catch (e) {
          log.error({ err: e, gen: m.gen }, 'config could not be built in this worker');
          send({ t: 'rejected', gen: m.gen, error: (e as Error).message ?? String(e) });
        }
        return;
      case 'commit':
        if (dp.commit(m.gen)) send({ t: 'committed', gen: m.gen });
        return;
      case 'abort':
        dp.abort(m.gen);
        return;
      case 'certs':
        dp.setCerts(m.certs);
        return;
      case 'eject':
        dp.balancers.adopt(m.ejection);
        return;
      case 'listen':
        void answer(m.id, () => dp.listen(m.port));
        return;
      case 'scrape':
        void answer(m.id, () => dp.metrics.registry.getMetricsAsJSON());
        return;
      case 'series':
        void answer(m.id, () => dp.series());
        return;
      case 'close':
        void answer(m.id, async () => {
          await dp.close(m.drainMs);
          await flushLogs();
        }).then(() => port.close());
        return;
    }
  });
  send({ t: 'booted', tunnelPort: dp.tunnelPort() });
}

// A bug in one connection's handling must never take the worker (and its connections) down.
process.on('unhandledRejection', (e: unknown) => log.error({ err: e, code: CATALOG.INTERNAL.code }, CATALOG.INTERNAL.message));
run().catch((e: unknown) => {
  log.error({ err: e }, 'proxy worker failed to start');
  void flushLogs().then(() => process.exit(1));
});
