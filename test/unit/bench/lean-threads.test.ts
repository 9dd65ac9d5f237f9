// The per-thread idle bench's pure parts: loaded files split into the project's and packages', public
// built-ins, the summary per worker count and the list of what a thread loads no more.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { moduleDiff, summarize } from '../../../bench/lean-threads';
import { publicBuiltins, splitFiles, type ThreadSnapshot } from '../../../bench/lean-threads-probe';

describe('splitFiles', () => {
  it('names project files from src/ on, in any build, and counts package files', () => {
    const table: [string[], string[], Record<string, number>][] = [
      [['/r/dist/src/agent.js', '/r/.out-x/wip/base/src/dns/agent.js'], ['src/agent.js', 'src/dns/agent.js'], {}],
      [['/r/node_modules/yaml/dist/index.js', '/r/node_modules/yaml/dist/cst.js'], [], { yaml: 2 }],
      [['/r/node_modules/@opentelemetry/api/build/src/index.js'], [], { '@opentelemetry/api': 1 }],
      [['/r/node_modules/a/node_modules/b/index.js'], [], { b: 1 }],
      [['/r/dist/bench/probe.js'], [], {}],
    ];
    for (const [files, own, packages] of table) assert.deepEqual(splitFiles(files), { own, packages }, files.join(' '));
  });
});

describe('publicBuiltins', () => {
  it('keeps public built-ins in load order', () => {
    assert.deepEqual(publicBuiltins(['Internal Binding fs', 'NativeModule internal/url', 'NativeModule url', 'NativeModule tls']), ['url', 'tls']);
  });
});

const snap = (o: Partial<ThreadSnapshot>): ThreadSnapshot => ({
  threadId: 0, main: true, heapUsedKb: 0, heapTotalKb: 0, heapUsedGcKb: 0, heapTotalGcKb: 0, own: [], packages: {}, builtins: [], ...o,
});

describe('summarize', () => {
  it('groups runs by worker count, in MiB with one decimal', () => {
    const main = (rssKb: number): ThreadSnapshot => snap({ rssKb, anonKb: 1024, fileKb: 2048, heapUsedGcKb: 5120, heapUsedKb: 6144, own: ['src/a.js'], packages: { yaml: 2 } });
    const worker = snap({ threadId: 1, main: false, heapUsedGcKb: 1536, own: ['src/b.js', 'src/c.js'] });
    const out = summarize([
      { workers: 1, run: 0, main: main(90_000), workerThreads: [worker] },
      { workers: 2, run: 0, main: main(100_000), workerThreads: [worker, worker] },
      { workers: 1, run: 1, main: main(91_000), workerThreads: [worker] },
    ]);
    assert.deepEqual(out.map((s) => [s.workers, s.rssMiB, s.workerHeapGcMiB]), [[1, [87.9, 88.9], [1.5, 1.5]], [2, [97.7], [1.5, 1.5]]]);
    assert.deepEqual([out[0]?.mainHeapGcMiB, out[0]?.mainHeapMiB, out[0]?.mainFiles, out[0]?.workerFiles], [[5, 5], [6, 6], 3, 2]);
  });
});

describe('moduleDiff', () => {
  it('lists files, packages and built-ins loaded before and not now, and the reverse', () => {
    const before = snap({ own: ['src/a.js', 'src/b.js'], packages: { 'prom-client': 32, '@opentelemetry/api': 51 }, builtins: ['net', 'tls'] });
    const now = snap({ own: ['src/a.js', 'src/c.js'], packages: { 'prom-client': 25 }, builtins: ['net'] });
    assert.deepEqual(moduleDiff(before, now), {
      removed: ['src/b.js', 'package @opentelemetry/api (51 files)', 'node:tls'],
      added: ['src/c.js'],
    });
  });
});
