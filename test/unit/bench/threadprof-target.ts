// A process to profile in threadprof.test.ts: a main thread and two worker threads, each busy in a
// function of its own name every few milliseconds. Prints "ready" once both workers run.
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

function busy(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x + i * i) % 1_000_003;
  return x;
}

if (isMainThread) {
  let started = 0;
  for (let i = 0; i < 2; i++) new Worker(__filename).once('message', () => ++started === 2 && console.log('ready'));
  setInterval(function mainThreadTick() {
    busy(2e5);
  }, 10);
} else {
  setInterval(function workerBusyLoop() {
    busy(2e5);
  }, 5);
  parentPort!.postMessage('up');
}
