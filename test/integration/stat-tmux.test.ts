// `nodemesh stat` on a real terminal: a --no-capture agent (a child process on free ports) proxies a
// bounded stream of requests; `nodemesh stat` runs in a tmux pane of 160x40 and the test reads the
// screen after refreshes: the service by name with a non-zero rate, redrawn in place (one header, at the
// top, no scrolled-off history), and Ctrl-C ends it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAdmin } from '../../src/cli/admin-client';
import { freePort } from '../helpers/ports';

const MAIN = path.resolve(__dirname, '../../src/main.js');
const haveTmux = spawnSync('tmux', ['-V']).status === 0;
const VIP = `127.92.${(process.pid >> 8) & 0xff}.${(process.pid & 0xff) || 1}`;
const NS = `stat${process.pid}`;
const HOST = `web.${NS}.svc.cluster.local`;

function get(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: VIP, port, path: '/', agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

test('nodemesh stat in tmux: names, a non-zero rate, redrawn in place', { skip: !haveTmux && 'tmux is not installed', timeout: 90_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-stat-'));
  const backend = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const backendPort = (backend.address() as net.AddressInfo).port;
  const [metricsPort, readyPort, tunnelPort, adminPort, vipPort] = [
    await freePort('127.0.0.1'), await freePort('127.0.0.1'), await freePort('127.0.0.1'), await freePort('127.0.0.1'), await freePort(VIP),
  ];
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: web, namespace: ${NS} }
spec:
  hosts: [${HOST}]
  addresses: [${VIP}]
  ports: [{ number: ${vipPort}, name: http, protocol: HTTP, targetPort: ${backendPort} }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1 }]
`);
  const agent = spawn(process.execPath, [MAIN, 'agent', '--no-capture', '--no-kubernetes', '--no-dns', '--node', 'stat-node', '--config', path.join(dir, 'mesh.yaml'),
    '--admin-host', '127.0.0.1', '--metrics-port', String(metricsPort), '--ready-port', String(readyPort), '--tunnel-port', String(tunnelPort),
    '--admin-port', String(adminPort), '--access-log', 'off'], { env: { ...process.env, NODE_ENV: 'production', NODEMESH_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  agent.stdout.on('data', (d: Buffer) => (log += d.toString()));
  agent.stderr.on('data', (d: Buffer) => (log += d.toString()));
  // A tmux server of its own (its socket in the test's directory), so nothing else's sessions are touched.
  const socket = path.join(dir, 'tmux.sock');
  const session = `stat-${process.pid}`;
  const tmux = (...args: string[]) => spawnSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });
  let traffic = true;
  t.after(async () => {
    traffic = false;
    tmux('kill-session', '-t', session);
    tmux('kill-server');
    if (agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise((resolve) => agent.once('exit', resolve));
      agent.kill('SIGTERM');
      const timer = setTimeout(() => agent.kill('SIGKILL'), 8_000);
      await exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => backend.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // The agent is up when its admin API answers and the VIP listener is open.
  const client = await connectAdmin(`127.0.0.1:${adminPort}`, 1000);
  t.after(() => client.close());
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await client.snapshot().then((s) => s.agent.config_generation > 0, () => false);
    if (ok && log.includes('outbound listener ready') && (await get(vipPort)) === 200) break;
    assert.ok(Date.now() < deadline, `agent not ready in time:\n${log.slice(-2000)}`);
    assert.equal(agent.exitCode, null, `agent exited:\n${log.slice(-2000)}`);
    await sleep(100);
  }

  // Bounded traffic: a request every 20 ms until the test ends, 60 s at most.
  const load = (async () => {
    const stop = Date.now() + 60_000;
    while (traffic && Date.now() < stop) {
      await get(vipPort);
      await sleep(20);
    }
  })();
  t.after(async () => {
    traffic = false;
    await load;
  });

  const r = tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '40', process.execPath, MAIN, 'stat', '--admin-address', `127.0.0.1:${adminPort}`, '--interval', '500ms');
  assert.equal(r.status, 0, r.stderr);
  const screen = (): string[] => tmux('capture-pane', '-p', '-t', session).stdout.split('\n');
  const header = (lines: string[]): string => lines[0] ?? '';
  const row = (lines: string[]): string[] | undefined => lines.find((l) => l.startsWith(`${HOST} `))?.trim().split(/ +/);

  // Two refreshes at least: a row with a rate needs two samples; then wait for the header's clock to move on.
  let first: string[] = [];
  for (let i = 0; i < 100; i++) {
    first = screen();
    const cells = row(first);
    if (cells && Number(cells[3]) > 0) break;
    await sleep(100);
  }
  const cells1 = row(first);
  assert.ok(cells1 && Number(cells1[3]) > 0, `a non-zero rate for ${HOST}:\n${first.join('\n')}\n${log.slice(-1000)}`);
  let second: string[] = first;
  for (let i = 0; i < 50 && header(second) === header(first); i++) {
    await sleep(100);
    second = screen();
  }
  for (let i = 0; i < 20 && !(Number(row(second)?.[7]) > Number(cells1[7])); i++) {
    await sleep(200);
    second = screen();
  }
  const text = second.join('\n');
  assert.match(header(second), /^nodemesh stat · node stat-node · up \S+ · config #1 \(\w+\) · datapath none · 127\.0\.0\.1:\d+ · interval 500ms · \d\d:\d\d:\d\d$/, text);
  assert.match(second[2] ?? '', /^SERVICE +NAMESPACE +SIDE +REQ\/S +SUCCESS +P50 +P99 +REQUESTS/, text);
  const cells2 = row(second);
  assert.ok(cells2, text);
  assert.deepEqual([cells2[1], cells2[2], cells2[4]], [NS, 'out', '100%'], text);
  assert.ok(Number(cells2[3]) > 0, `rate: ${text}`);
  assert.ok(Number(cells2[7]) > Number(cells1[7]), `the request count moved on between the screens:\n${first.join('\n')}\n---\n${text}`);

  // In place: the header once, on the top line, and nothing scrolled into the pane's history.
  const all = tmux('capture-pane', '-p', '-S', '-', '-E', '-', '-t', session).stdout;
  assert.equal(all.split('\n').filter((l) => l.startsWith('nodemesh stat ·')).length, 1, all);
  assert.equal(tmux('display-message', '-p', '-t', session, '#{history_size}').stdout.trim(), '0');

  // Ctrl-C ends it: the pane's process exits and, with it, the session.
  tmux('send-keys', '-t', session, 'C-c');
  let gone = false;
  for (let i = 0; i < 50 && !gone; i++) {
    await sleep(100);
    gone = tmux('has-session', '-t', session).status !== 0;
  }
  assert.ok(gone, 'stat ends on Ctrl-C');
});
