// Makes a loopback server of the test process reachable from inside the namespace cluster: a Unix socket
// in the test process pipes to 127.0.0.1:PORT, and a forwarder process in a node's network namespace
// listens on that node's IP and pipes to the socket. Nothing listens outside 127/8 or the test's namespaces.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Cluster, ClusterNode } from './cluster';
import { stopChild } from './sysenv';

export interface Bridge {
  /** The address to use from the cluster: `http://<node ip>:<port>`. */
  readonly url: string;
  close(): Promise<void>;
}

export async function bridgeToNode(c: Cluster, node: ClusterNode, targetPort: number, listenPort: number, dir: string): Promise<Bridge> {
  const sock = path.join(dir, `bridge-${targetPort}.sock`);
  fs.rmSync(sock, { force: true });
  const conns = new Set<net.Socket>();
  const server = net.createServer((s) => {
    const t = net.connect(targetPort, '127.0.0.1');
    conns.add(s);
    conns.add(t);
    s.pipe(t).pipe(s);
    const end = (): void => {
      s.destroy();
      t.destroy();
      conns.delete(s);
      conns.delete(t);
    };
    for (const x of [s, t]) {
      x.on('error', end);
      x.on('close', end);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sock, resolve);
  });
  const script = path.join(__dirname, 'forwarder.js');
  const child: ChildProcess = c.spawn(node, process.execPath, [script, node.ip, String(listenPort), sock]);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('forwarder did not start')), 10_000);
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`forwarder exited ${code}`));
    });
  });
  return {
    url: `http://${node.ip}:${listenPort}`,
    async close() {
      await stopChild(child);
      for (const s of conns) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(sock, { force: true });
    },
  };
}
