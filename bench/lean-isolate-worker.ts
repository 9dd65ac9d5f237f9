// A worker thread of bench/lean-isolates.ts: loads the modules it is given (paths relative to this
// file, or package names), optionally runs V8's memory-reducing collection as state/reclaim.ts does,
// and answers with its isolate's heap. It imports nothing else, so what it holds is those modules.
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';

const { modules, reclaim } = workerData as { modules: string[]; reclaim: boolean };
for (const m of modules) require(m.startsWith('.') ? path.resolve(__dirname, m) : m);
if (reclaim) {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (o: unknown) => void;
  v8.setFlagsFromString('--no-expose-gc');
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
const h = v8.getHeapStatistics();
parentPort!.postMessage({ used: Math.round(h.used_heap_size / 1024), total: Math.round(h.total_heap_size / 1024), files: Object.keys(require.cache).length });
setInterval(() => undefined, 1 << 30);
