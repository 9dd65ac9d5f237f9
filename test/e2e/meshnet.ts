// A running mesh on the namespace cluster: the CA on node-0, an agent per node (attached to that node's
// pod cgroup root, pins of its own), a shared ConfigMap-style config dir, and helpers to read metrics
// from inside a node's namespace. Torn down completely (agents, pins, cluster) by close().
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster } from '../helpers/cluster';
import { stopChild } from '../helpers/sysenv';
import { MAIN, NODE } from './harness';
import { NetBase } from './netbase';

export class MeshNet extends NetBase {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-meshnet-'));
  readonly cfgDir = path.join(this.dir, 'config');
  readonly caDir = path.join(this.dir, 'ca');
  readonly agents: ChildProcess[] = [];
  private version = 0;

  private constructor(c: Cluster) {
    super(c);
    fs.mkdirSync(this.cfgDir);
  }

  static async start(opts: { nodes: number; podsPerNode: number; config: (c: Cluster) => string; certTtl?: string }): Promise<MeshNet> {
    const c = await Cluster.create({ nodes: opts.nodes, podsPerNode: opts.podsPerNode });
    const m = new MeshNet(c);
    try {
      m.writeConfig(opts.config(c));
      const tokens: Record<string, string> = {};
      c.nodes.forEach((n, i) => {
        tokens[n.name] = `token-${i}-${process.pid}`;
        fs.writeFileSync(path.join(m.dir, `${n.name}.token`), tokens[n.name]!);
      });
      fs.writeFileSync(path.join(m.dir, 'tokens.json'), JSON.stringify(tokens));
      const n0 = c.nodes[0]!;
      m.track(c.spawn(n0, NODE, [MAIN, 'ca', '--listen', `${n0.ip}:15012`, '--dir', m.caDir, '--node-tokens', path.join(m.dir, 'tokens.json'), '--config', m.cfgDir]), 'ca');
      await m.until(() => fs.existsSync(path.join(m.caDir, 'root-cert.pem')), 'CA root written');
      for (const [i, n] of c.nodes.entries()) {
        const args = [
          MAIN, 'agent', '--config', m.cfgDir, '--cgroup', n.podCgroupRoot, '--bpffs', m.pin(i), '--node', n.name, '--node-ip', n.ip,
          '--admin-host', n.ip, '--ca', `${n0.ip}:15012`, '--ca-root', path.join(m.caDir, 'root-cert.pem'),
          '--node-token', path.join(m.dir, `${n.name}.token`), '--drain-timeout', '1s', ...(opts.certTtl ? ['--cert-ttl', opts.certTtl] : []),
        ];
        m.agents.push(m.track(c.spawn(n, NODE, args, { env: { ...process.env, NODE_ENV: 'production', NODEMESH_LOG_LEVEL: 'info' } }), n.name));
      }
      for (const n of c.nodes) await m.until(async () => (await m.http(n, `http://${n.ip}:15021/healthz/ready`)).startsWith('ready'), `${n.name} agent ready`, 20_000);
      return m;
    } catch (e) {
      await m.close();
      throw e;
    }
  }

  pin(i: number): string {
    return `/sys/fs/bpf/${this.c.id}-n${i}`;
  }


  writeConfig(yaml: string): void {
    const v = `..v${++this.version}`;
    fs.mkdirSync(path.join(this.cfgDir, v));
    fs.writeFileSync(path.join(this.cfgDir, v, 'mesh.yaml'), yaml);
    fs.symlinkSync(v, path.join(this.cfgDir, '..data_tmp'));
    fs.renameSync(path.join(this.cfgDir, '..data_tmp'), path.join(this.cfgDir, '..data'));
    if (!fs.existsSync(path.join(this.cfgDir, 'mesh.yaml'))) fs.symlinkSync('..data/mesh.yaml', path.join(this.cfgDir, 'mesh.yaml'));
  }




  async close(): Promise<void> {
    // Agents first (by pid), then their pins, then the namespaces and cgroups.
    await Promise.all(this.agents.map((a) => stopChild(a)));
    for (const [i] of this.c.nodes.entries()) {
      if (fs.existsSync(this.pin(i))) {
        try {
          execFileSync(NODE, [MAIN, 'uninstall', '--bpffs', this.pin(i)], { stdio: 'ignore' });
        } catch {
          fs.rmSync(this.pin(i), { recursive: true, force: true });
        }
      }
    }
    await this.c.destroy();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
