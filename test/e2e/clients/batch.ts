// A pod-side HTTP/1.1 client for e2e tests: runs a plan of requests (JSON in argv[2]) with bounded
// concurrency over keep-alive connections and prints one JSON line per request, in plan order.
import * as http from 'node:http';

interface PlanRequest {
  readonly url: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}
interface Plan {
  readonly requests: readonly PlanRequest[];
  readonly concurrency?: number;
  /** Response headers to report (lower case). */
  readonly keep?: readonly string[];
}
export interface BatchResult {
  readonly status: number;
  readonly body: string;
  readonly ms: number;
  readonly headers: Record<string, string>;
  readonly error?: string;
}

const plan = JSON.parse(process.argv[2] ?? '{}') as Plan;
const agent = new http.Agent({ keepAlive: true, maxSockets: plan.concurrency ?? 1 });
const results: BatchResult[] = new Array(plan.requests.length);

function one(r: PlanRequest): Promise<BatchResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request(r.url, { method: r.method ?? 'GET', headers: r.headers ?? {}, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        const headers: Record<string, string> = {};
        for (const k of plan.keep ?? []) {
          const v = res.headers[k];
          if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
        }
        resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0, headers });
      });
      res.on('error', (e) => resolve({ status: 0, body, ms: performance.now() - t0, headers: {}, error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: '', ms: performance.now() - t0, headers: {}, error: e.message }));
    req.end(r.body);
  });
}

async function main(): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < plan.requests.length) {
      const i = next++;
      results[i] = await one(plan.requests[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, plan.concurrency ?? 1) }, worker));
  process.stdout.write(`${JSON.stringify(results)}\n`);
  agent.destroy();
}

// Bounded: never outlive a forgotten test.
setTimeout(() => process.exit(2), 60_000).unref();
main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});
