// What every mesh on the namespace cluster needs, whatever feeds it its topology: the processes' logs,
// HTTP from inside a node's namespace (metrics and readiness are not reachable from the host), and
// waiting for a condition with the recent logs in the error.
import type { ChildProcess } from 'node:child_process';
import type { Cluster, ClusterNode } from '../helpers/cluster';
import { sleep } from './harness';

export abstract class NetBase {
  logs: string[] = [];

  protected constructor(readonly c: Cluster) {}

  protected track(child: ChildProcess, name: string): ChildProcess {
    const add = (d: Buffer): void => void this.logs.push(...d.toString().split('\n').filter(Boolean).map((l) => `${name}: ${l}`));
    child.stdout?.on('data', add);
    child.stderr?.on('data', add);
    return child;
  }

  /** GET from inside a node's namespace. */
  async http(n: ClusterNode, url: string): Promise<string> {
    return (await this.c.outside(n, 'curl', ['-s', '--max-time', '3', url], { timeoutMs: 5000 })).stdout;
  }

  metrics(n: ClusterNode): Promise<string> {
    return this.http(n, `http://${n.ip}:15020/metrics`);
  }

  async until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await Promise.resolve(cond()).catch(() => false)) return;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}\n${this.logs.slice(-60).join('\n')}`);
  }
}
