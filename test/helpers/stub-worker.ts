// A stand-in proxy worker for WorkerPool tests: speaks workers/protocol.ts without proxying anything.
// Config hashes steer it: "reject-N" makes worker N reject the prepare; "exit-N" makes worker N exit
// right after it commits (the pool must restart it); "hang-N" makes worker N's event loop stop (a busy
// loop) right after it commits (a replacement installs it, and does not hang); "mute-N" makes worker N
// stop answering scrapes. It remembers the ejections it was told of and
// answers them to a 'state' request, and answers a scrape with one counter of value 1.
import { parentPort, workerData } from 'node:worker_threads';
import type { FromWorker, ToWorker, WorkerInit } from '../../src/workers/protocol';

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (m: FromWorker): void => port.postMessage(m);
const prepared = new Map<number, string>();
const told: unknown[] = [];
let running = '';
let reported = false;

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'prepare':
    case 'install': {
      const hash = m.config.source.hash;
      if (m.t === 'prepare' && hash === `reject-${init.index}`) return send({ t: 'rejected', gen: m.gen, error: 'this worker cannot build it' });
      prepared.set(m.gen, hash);
      if (m.t === 'prepare') return send({ t: 'prepared', gen: m.gen });
      running = hash;
      return send({ t: 'committed', gen: m.gen });
    }
    case 'commit': {
      const hash = prepared.get(m.gen);
      if (hash === undefined) return;
      running = hash;
      send({ t: 'committed', gen: m.gen });
      if (hash === `exit-${init.index}`) setTimeout(() => process.exit(3), 10);
      if (hash === `hang-${init.index}`)
        setTimeout(() => {
          for (;;);
        }, 10);
      return;
    }
    case 'abort':
      prepared.delete(m.gen);
      return;
    case 'eject':
      told.push(m.ejection);
      return;
    case 'certs':
    case 'jwks':
    case 'jwks-all':
      return;
    case 'listen':
      return send({ t: 'reply', id: m.id, value: { fd: undefined, port: m.port || 40000 } });
    case 'scrape':
      if (running === `mute-${init.index}`) return;
      return send({ t: 'reply', id: m.id, value: [{ name: 'stub_requests_total', help: 'h', type: 'counter', aggregator: 'sum', values: [{ labels: {}, value: 1 }] }] });
    case 'ping':
      return send({ t: 'reply', id: m.id, value: undefined });
    case 'state':
      // A test hook: worker 0 reports one ejection once it runs the config "eject".
      if (init.index === 0 && running === 'eject' && !reported) {
        reported = true;
        send({ t: 'ejected', ejection: { cluster: 'c', key: '10.0.0.1:80', remainingMs: 1000, count: 1 } });
      }
      return send({ t: 'reply', id: m.id, value: { index: init.index, running, told } });
    case 'close':
      send({ t: 'reply', id: m.id, value: undefined });
      port.close();
      return;
  }
});
send({ t: 'booted', tunnelPort: init.tunnelPort || 41000 });
