// A pod-side paced HTTP/1.1 load for restart tests: argv[3] requests per second to argv[2] for argv[4] ms,
// started on schedule whether or not earlier ones finished, over new connections (argv[5] = "new") or
// keep-alive ones ("keepalive"). Every request's outcome is recorded; one JSON line at the end.
import * as http from 'node:http';

const url = process.argv[2] ?? 'http://127.0.0.1/';
const rate = Number(process.argv[3] ?? 200);
const durationMs = Number(process.argv[4] ?? 4000);
const mode = process.argv[5] === 'keepalive' ? 'keepalive' : 'new';
const agent = mode === 'keepalive' ? new http.Agent({ keepAlive: true, maxSockets: 8 }) : false;

type Outcome = { ok: true; body: string } | { ok: false; why: string; atMs: number };

function get(t0: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const fail = (why: string): void => resolve({ ok: false, why, atMs: Math.round(performance.now() - t0) });
    const req = http.get(url, { agent, timeout: 10_000, headers: mode === 'new' ? { connection: 'close' } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve({ ok: true, body }) : fail(`${res.statusCode} ${body.slice(0, 60)}`)));
      res.on('error', (e) => fail(e.message));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => fail(e.message));
  });
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const total = Math.round((rate * durationMs) / 1000);
  const runs: Promise<Outcome>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    runs.push(get(t0));
  }
  const outcomes = await Promise.all(runs);
  if (agent) agent.destroy();
  const failures = outcomes.filter((o): o is Extract<Outcome, { ok: false }> => !o.ok);
  const byBody: Record<string, number> = {};
  for (const o of outcomes) if (o.ok) byBody[o.body] = (byBody[o.body] ?? 0) + 1;
  process.stdout.write(`${JSON.stringify({ mode, total, ok: total - failures.length, failed: failures.length, byBody, failures: failures.length <= 20 ? failures : [...failures.slice(0, 10), ...failures.slice(-10)] })}\n`);
}

void main();
