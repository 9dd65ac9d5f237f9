// Entry of a proxy worker thread (worker_threads): builds its DataPlane from workerData and answers
// the main thread's messages (workers/protocol.ts). A worker that throws at start exits; the main
// thread reports it and starts another.
import { parentPort, workerData } from 'node:worker_threads';
import { DataPlane } from './dataplane';
import { CATALOG } from './errors';
import { flushLogs, logger } from './log';
import { MemoryReclaimer } from './state/reclaim';
import { registerWorkerMetrics } from './workers/metrics';
import type { FromWorker, ToWorker, WorkerInit } from './workers/protocol';

const init = workerData as WorkerInit;
const log = logger('worker').child({ worker: init.index });
const port = parentPort!;
const send = (m: FromWorker): void => port.postMessage(m);
// This isolate's start-up garbage and a shrunk config's memory, collected here (each isolate has its
// own heap). No malloc_trim: the main thread's covers every thread's arenas.
const reclaimer = new MemoryReclaimer({ trim: false, delayMs: 4000 });

async function answer(id: number, work: () => Promise<unknown> | unknown): Promise<void> {
  try {
    send({ t: 'reply', id, value: await work() });
  } catch (e) {
    send({ t: 'reply', id, value: undefined, error: (e as Error).message ?? String(e) });
  }
}

async function run(): Promise<void> {
  const dp = await DataPlane.start(
    init,
    (ejection) => send({ t: 'ejected', ejection }),
    (uri) => send({ t: 'jwks-refresh', uri }),
  );
  // Requests, event-loop lag and heap per worker (the default metrics describe the main thread only).
  const own = registerWorkerMetrics(dp.metrics.registry, init.index, () => dp.requestCount());
  port.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'prepare':
      case 'install':
        try {
          dp.prepare(m.gen, m.config, m.partial, m.rateTable);
          // Runs after its delay, when the prepared config is the running one.
          reclaimer.applied(m.config);
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
      case 'jwks':
        dp.jwks.fetched(m.uri, m.keys);
        return;
      case 'jwks-all':
        dp.jwks.setAll(m.all);
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
      case 'ping':
        send({ t: 'reply', id: m.id, value: undefined });
        return;
      case 'close':
        void answer(m.id, async () => {
          await dp.close(m.drainMs);
          own.close();
          reclaimer.close();
          await flushLogs();
        }).then(() => port.close());
        return;
    }
  });
  send({ t: 'booted', tunnelPort: dp.tunnelPort() });
  reclaimer.started();
}

// A bug in one connection's handling must never take the worker (and its connections) down.
process.on('unhandledRejection', (e: unknown) => log.error({ err: e, code: CATALOG.INTERNAL.code }, CATALOG.INTERNAL.message));
run().catch((e: unknown) => {
  log.error({ err: e }, 'proxy worker failed to start');
  void flushLogs().then(() => process.exit(1));
});
