// A pod-side mixed load for e2e tests, bounded in time and count: every argv[2].intervalMs one round of
// HTTP GETs (each URL with its headers, a fresh connection each) and TCP echo exchanges, until
// durationMs is up. Prints one JSON line: statuses by URL, TCP echoes that came back, failures.
import * as http from 'node:http';
import * as net from 'node:net';

interface Spec {
  durationMs: number;
  intervalMs: number;
  http?: { url: string; headers?: Record<string, string> }[];
  tcp?: string[];
}

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
const MAX_ROUNDS = 2000;

function get(url: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get(url, { headers, agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
      res.on('error', (e) => resolve(e.message));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
  });
}

function echo(addr: string, text: string): Promise<boolean> {
  const [host, port] = addr.split(':') as [string, string];
  return new Promise((resolve) => {
    let got = '';
    const s = net.connect({ host, port: Number(port) }, () => s.write(text));
    s.setTimeout(3000, () => s.destroy());
    s.on('data', (d) => {
      got += d.toString();
      if (got.length >= text.length) s.end();
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve(got === text));
  });
}

async function main(): Promise<void> {
  const end = Date.now() + spec.durationMs;
  const statuses: Record<string, Record<string, number>> = {};
  const tcp: Record<string, { ok: number; failed: number }> = {};
  for (let round = 0; Date.now() < end && round < MAX_ROUNDS; round++) {
    const started = Date.now();
    const work: Promise<void>[] = [];
    for (const h of spec.http ?? []) {
      work.push(get(h.url, h.headers ?? {}).then((st) => {
        const by = (statuses[h.url + (h.headers ? ` ${JSON.stringify(h.headers)}` : '')] ??= {});
        by[st] = (by[st] ?? 0) + 1;
      }));
    }
    for (const a of spec.tcp ?? []) {
      work.push(echo(a, `echo ${round} `.repeat(20)).then((ok) => {
        const t = (tcp[a] ??= { ok: 0, failed: 0 });
        if (ok) t.ok++;
        else t.failed++;
      }));
    }
    await Promise.all(work);
    await new Promise((r) => setTimeout(r, Math.max(0, spec.intervalMs - (Date.now() - started))));
  }
  process.stdout.write(`${JSON.stringify({ statuses, tcp })}\n`);
}

void main();
