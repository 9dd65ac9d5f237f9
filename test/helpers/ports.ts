// Loopback ports for tests that start a server process of their own: a free port, waiting until something
// listens there, and nginx itself (one worker, in the foreground, everything under a temp directory).
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';

/** A port free on HOST (127.0.0.1 unless given, e.g. a loopback VIP) at the time of asking. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer().listen(0, host);
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}

export async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => (c.destroy(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

export const hasNginx = spawnSync('sh', ['-c', 'command -v nginx']).status === 0;

/**
 * nginx on a free loopback port with HTTP (the `http {}` block's body, given the port) as its config;
 * stopped by pid and its directory removed when test T ends. Resolves with the port once it listens.
 */
export async function startNginx(t: TestContext, http: (port: number) => string): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-nginx-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${path.join(dir, 'body')};
${http(port)}
}
`,
  );
  const nginx = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  nginx.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  t.after(async () => {
    if (nginx.exitCode === null) {
      nginx.kill('SIGTERM');
      await once(nginx, 'exit');
    }
  });
  await waitListening(port).catch((err) => {
    throw new Error(`${err}: ${stderr}`);
  });
  return port;
}
