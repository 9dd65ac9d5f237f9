// prom-client's default metrics (collectDefaultMetrics: CPU, memory, descriptors, event-loop lag, handles,
// heap, GC, node version) without @opentelemetry/api. prom-client's CPU counters load that package (51
// files) only to attach exemplars, which the agent never enables; here the CPU counters are the same
// three, made from the same Counter class and updated the same way, and every other default metric is
// prom-client's own module. Same names, help, types and values as collectDefaultMetrics, which
// test/unit/telemetry/promdefaults.test.ts checks against prom-client's index.
import type * as prom from 'prom-client';
import { Counter } from './promlite';

type DefaultMetric = (registry: prom.Registry, config: Readonly<Record<string, unknown>>) => void;

/** One of prom-client's default metric modules (prom-client/lib/metrics/NAME.js). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const builtin = (name: string): DefaultMetric => require(`prom-client/lib/metrics/${name}`) as DefaultMetric;

/** process_cpu_{user,system}_seconds_total and process_cpu_seconds_total, as prom-client counts them. */
function processCpuTotal(registry: prom.Registry): void {
  const registers = [registry];
  let last = process.cpuUsage();
  const user = new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers,
    // This metric's collect sets all three (it is collected first, as in prom-client).
    collect() {
      const now = process.cpuUsage();
      const userMicros = now.user - last.user;
      const systemMicros = now.system - last.system;
      last = now;
      user.inc(userMicros / 1e6);
      system.inc(systemMicros / 1e6);
      total.inc((userMicros + systemMicros) / 1e6);
    },
  });
  const system = new Counter({ name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', registers });
  const total = new Counter({ name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', registers });
}

/** collectDefaultMetrics({ register: registry }), in prom-client's order. */
export function collectDefaultMetrics(o: { register: prom.Registry }): void {
  const config = { eventLoopMonitoringPrecision: 10, register: o.register };
  processCpuTotal(o.register);
  const names = [
    'processStartTime', 'osMemoryHeap', 'processOpenFileDescriptors', 'processMaxFileDescriptors', 'eventLoopLag',
    ...(typeof process.getActiveResourcesInfo === 'function' ? ['processResources'] : []),
    'processHandles', 'processRequests', 'heapSizeAndUsed', 'heapSpacesSizeAndUsed', 'version', 'gc',
  ];
  for (const n of names) builtin(n)(o.register, config);
}
