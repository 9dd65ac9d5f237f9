// A pod-side steady HTTP/1.1 load for e2e tests: sequential GETs over keep-alive to argv[2] for argv[3] ms
// (at most argv[4] requests), then one JSON line: totals, answers by body and the failures seen.
import * as http from 'node:http';

const url = process.argv[2] ?? 'http://127.0.0.1/';
const durationMs = Number(process.argv[3] ?? 5000);
const maxRequests = Number(process.argv[4] ?? 10_000);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.message }));
  });
}

async function main(): Promise<void> {
  const end = Date.now() + durationMs;
  const byBody: Record<string, number> = {};
  const failures: string[] = [];
  let total = 0;
  let ok = 0;
  while (Date.now() < end && total < maxRequests) {
    total++;
    const r = await get();
    if ('error' in r) failures.push(r.error);
    else if (r.status !== 200) failures.push(`${r.status} ${r.body.slice(0, 80)}`);
    else {
      ok++;
      // "hello GET / from <ip>" bodies are grouped by who answered (the server adds nothing else).
      byBody[r.body] = (byBody[r.body] ?? 0) + 1;
    }
  }
  agent.destroy();
  process.stdout.write(`${JSON.stringify({ total, ok, failed: failures.length, byBody, failures: failures.slice(0, 20) })}\n`);
}

void main();
