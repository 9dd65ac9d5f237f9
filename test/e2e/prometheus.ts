// A real Prometheus (Debian's package) for e2e tests: started inside a node's network namespace (the
// agents' :15020 is reachable only there), scraping the given targets every second into a storage
// directory of its own, asked through its HTTP API from inside that namespace. stop() kills it by pid
// and removes the directory.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Cluster, ClusterNode } from '../helpers/cluster';
import { stopChild } from '../helpers/sysenv';
import { NODE, sleep } from './harness';

export const PROMETHEUS = '/usr/bin/prometheus';
/** The node namespace is the test's own, so this port is free there whatever the host runs. */
const LISTEN = '127.0.0.1:19090';

export interface PromAnswer {
  ok: boolean;
  error?: string;
  resultType?: string;
  series: number;
  finite: number;
  values: { metric: Record<string, string>; value: string }[];
}

export type PromAsk = { query: string; time?: number } | { label: string; match?: string };

export class Prometheus {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-prom-'));
  private child: ChildProcess | undefined;
  log = '';

  private constructor(private readonly c: Cluster, private readonly node: ClusterNode) {}

  static async start(c: Cluster, node: ClusterNode, targets: readonly string[]): Promise<Prometheus> {
    const p = new Prometheus(c, node);
    const config = [
      'global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}',
      'scrape_configs:',
      '  - job_name: nodemesh-agent',
      '    static_configs:',
      `      - targets: [${targets.map((t) => `"${t}"`).join(', ')}]`,
      '',
    ].join('\n');
    fs.writeFileSync(path.join(p.dir, 'prometheus.yml'), config);
    fs.mkdirSync(path.join(p.dir, 'data'));
    p.child = c.spawn(node, PROMETHEUS, [
      `--config.file=${path.join(p.dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(p.dir, 'data')}`,
      `--web.listen-address=${LISTEN}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ]);
    const add = (d: Buffer): void => void (p.log = (p.log + d.toString()).slice(-20_000));
    p.child.stdout?.on('data', add);
    p.child.stderr?.on('data', add);
    try {
      await p.until(async () => (await p.ask([{ query: 'up' }]))[0]?.ok === true, 'Prometheus answering', 20_000);
      await p.until(async () => (await p.ask([{ query: 'sum(up)' }]))[0]?.values[0]?.value === String(targets.length), 'every target up', 20_000);
    } catch (e) {
      await p.stop();
      throw e;
    }
    return p;
  }

  /** Answers in order; one process in the node namespace asks them all. */
  async ask(asks: readonly PromAsk[]): Promise<PromAnswer[]> {
    const r = await this.c.outside(this.node, NODE, [path.join(__dirname, 'clients/promquery.js'), `http://${LISTEN}`], { input: JSON.stringify(asks), timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`promquery exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as PromAnswer[];
  }

  /** A time (unix seconds, now or just after) at which every target's last scrape succeeded. */
  async freshTime(timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const time = Date.now() / 1000;
      const [a] = await this.ask([{ query: 'count(up == 1) == count(up)', time }]);
      if (a?.series === 1) return time;
      if (Date.now() > deadline) throw new Error('no moment with every target up');
      await sleep(300);
    }
  }

  private async until(cond: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await cond().catch(() => false)) return;
      if (this.child?.exitCode !== null || this.child?.signalCode !== null) break;
      await sleep(250);
    }
    throw new Error(`timed out waiting for ${what}: ${this.log.slice(-2000)}`);
  }

  async stop(): Promise<void> {
    if (this.child) await stopChild(this.child);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
