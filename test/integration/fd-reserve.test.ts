// The agent out of file descriptors (issue 10): run with --no-capture under `ulimit -n 128`, more idle
// clients than that on a VIP listener. The surplus is closed cleanly and counted as fd_exhausted, one
// log line says so, and /metrics and /healthz/ready keep answering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../helpers/ports';

const MAIN = path.resolve(__dirname, '../../src/main.js');
const LIMIT = 128;
const CLIENTS = 300;
const VIP = `127.91.${(process.pid >> 8) & 0xff}.${(process.pid & 0xff) || 1}`;

const haveBash = spawnSync('bash', ['-c', 'ulimit -n 128'], { encoding: 'utf8' }).status === 0;

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: 3_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${p} timed out`)));
    req.on('error', reject);
  });
}

function mesh(vip: string, port: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: fd, namespace: default }
spec:
  hosts: [fd.default.svc.cluster.local]
  addresses: [${vip}]
  ports: [{ number: ${port}, name: http, protocol: HTTP, targetPort: 9 }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`;
}

function rejected(metrics: string, reason: string): number {
  const m = new RegExp(`^nodemesh_downstream_rejected_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : 0;
}

test('out of descriptors: captured clients are refused and counted, admin ports keep answering', { skip: !haveBash && 'bash is needed for ulimit', timeout: 60_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-fd-'));
  const [metricsPort, readyPort, tunnelPort, vipPort] = [await freePort('127.0.0.1'), await freePort('127.0.0.1'), await freePort('127.0.0.1'), await freePort(VIP)];
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), mesh(VIP, vipPort));
  const args = [MAIN, 'agent', '--no-capture', '--no-kubernetes', '--config', path.join(dir, 'mesh.yaml'), '--admin-host', '127.0.0.1',
    '--metrics-port', String(metricsPort), '--ready-port', String(readyPort), '--tunnel-port', String(tunnelPort)];
  // `ulimit -n` sets the soft and the hard limit: Node raises a soft limit to the hard one at start.
  const agent = spawn('bash', ['-c', `ulimit -n ${LIMIT} && exec "$0" "$@"`, process.execPath, ...args], {
    env: { ...process.env, NODE_ENV: 'production', NODEMESH_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  agent.stdout.on('data', (d: Buffer) => (out += d.toString()));
  agent.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const clients: net.Socket[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    if (agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise((resolve) => agent.once('exit', resolve));
      agent.kill('SIGTERM');
      const timer = setTimeout(() => agent.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await get(readyPort, '/healthz/ready').catch(() => undefined);
    if (r?.status === 200 && out.includes('outbound listener ready')) break;
    assert.ok(Date.now() < deadline, `agent not ready in time:\n${out.slice(-2000)}`);
    assert.equal(agent.exitCode, null, `agent exited:\n${out.slice(-2000)}`);
    await sleep(100);
  }

  let closedByAgent = 0;
  let reset = 0;
  await Promise.all(Array.from({ length: CLIENTS }, () => new Promise<void>((resolve) => {
    const c = net.connect({ host: VIP, port: vipPort });
    clients.push(c);
    c.on('connect', () => resolve());
    c.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' && reset++, resolve()));
    c.on('end', () => (closedByAgent++, c.end()));
  })));
  // Let the agent accept (and refuse) the whole backlog.
  for (let i = 0; i < 30 && closedByAgent + reset < CLIENTS - LIMIT; i++) await sleep(100);
  assert.ok(closedByAgent > 0, `some clients are closed by the agent (closed ${closedByAgent}, reset ${reset})`);
  assert.equal(reset, 0, 'refused clients get a clean close, not a reset');

  // While the surplus is being refused and the rest hold their descriptors, the admin ports answer.
  for (let i = 0; i < 5; i++) {
    const ready = await get(readyPort, '/healthz/ready');
    assert.equal(ready.status, 200, ready.body);
    const metrics = await get(metricsPort, '/metrics');
    assert.equal(metrics.status, 200);
    assert.ok(rejected(metrics.body, 'fd_exhausted') > 0, 'refusals are counted as fd_exhausted');
  }
  const metrics = (await get(metricsPort, '/metrics')).body;
  assert.equal(rejected(metrics, 'fd_exhausted'), closedByAgent, 'every refused client is counted');

  const lines = out.split('\n').filter((l) => l.includes('NM_E_DOWNSTREAM_REFUSED'));
  assert.ok(lines.length >= 1 && lines.length <= 2, `one bounded log line, not one per client:\n${lines.join('\n')}`);
  assert.match(lines[0]!, /fd_exhausted: out of file descriptors/);
  assert.match(lines[0]!, /"fd_limit":128/);
});
