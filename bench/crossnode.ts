// Cross-node bench on the namespace cluster: a client pod on node-0, a server pod on node-1.
//   direct:    pod → pod IP (plaintext, no agent)
//   mesh mTLS: pod → VIP → agent (node-0) → HBONE mTLS → agent (node-1) → pod
// At a fixed 1000 req/s (open loop: added p50/p90/p99, comparable with ztunnel's published figure)
// and at full speed with wrk (rps). Root only; everything it starts is removed at the end.
// `--profile DIR`: CPU profiles of both agents during a second fixed-rate run, of each agent's main
// thread and of each of its proxy workers (clients/threadprof.ts: through the main thread's inspector,
// opened with SIGUSR1 once the agents are up: --cpu-prof from the start would disturb the eBPF load).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { meshConfig } from '../test/helpers/cluster-config';
import { MeshNet } from '../test/e2e/meshnet';
import { NODE } from '../test/e2e/harness';
import { writeResults } from './harness';

const VIP = '10.96.0.10';
const profileAt = process.argv.indexOf('--profile');
const PROFILE_DIR = profileAt > 0 ? process.argv[profileAt + 1] : undefined;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the cross-node bench needs root (network namespaces, eBPF)');
  const startedAt = new Date().toISOString();
  const m = await MeshNet.start({
    nodes: 2,
    podsPerNode: 1,
    config: (c) =>
      meshConfig({
        nodes: c.nodes,
        workloads: [
          { pod: c.nodes[0]!.pods[0]!, namespace: 'a', serviceAccount: 'client', app: 'client' },
          { pod: c.nodes[1]!.pods[0]!, namespace: 'b', serviceAccount: 'server', app: 'server' },
        ],
        services: [{ name: 'web', namespace: 'b', vip: VIP, port: 80, targetPort: 8080, protocol: 'HTTP', app: 'server' }],
      }),
  });
  const c = m.c;
  const client = c.nodes[0]!.pods[0]!;
  const server = c.nodes[1]!.pods[0]!;
  try {
    const srv = c.spawn(server, NODE, [path.join(__dirname, '../test/e2e/clients/server.js'), '8080', '9000']);
    await new Promise<void>((r) => srv.stdout?.once('data', () => r()));
    const rate = async (host: string, port: number): Promise<Record<string, number>> => {
      const r = await c.exec(client, NODE, [path.join(__dirname, 'clients/rate.js'), host, String(port), '1000', '5', '16'], { timeoutMs: 20_000 });
      return JSON.parse(r.stdout) as Record<string, number>;
    };
    const wrk = async (url: string): Promise<number> => {
      const r = await c.exec(client, 'wrk', ['-t1', '-c16', '-d5s', url], { timeoutMs: 20_000 });
      return Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
    };
    await rate(VIP, 80); // warm: certificates, tunnel sessions, pools
    const direct = await rate(server.ip, 8080);
    const mesh = await rate(VIP, 80);
    const rpsDirect = await wrk(`http://${server.ip}:8080/`);
    const rpsMesh = await wrk(`http://${VIP}/`);
    const f = (x: number | undefined): string => (x ?? NaN).toFixed(3);
    console.log('\ncross-node, 1000 req/s for 5 s, 16 connections (latency ms)');
    console.log('case        p50     p90     p99    done/sent  errors');
    for (const [name, r] of [['direct', direct], ['mesh mTLS', mesh]] as const) console.log(`${name.padEnd(10)} ${f(r.p50)}  ${f(r.p90)}  ${f(r.p99)}  ${r.done}/${r.sent}  ${r.errors}`);
    console.log(`added by two agents + mTLS: p50 +${f(mesh.p50! - direct.p50!)} ms, p90 +${f(mesh.p90! - direct.p90!)} ms, p99 +${f(mesh.p99! - direct.p99!)} ms`);
    console.log(`\nmax throughput (wrk -t1 -c16 -d5s): direct ${rpsDirect.toFixed(0)} req/s, mesh mTLS ${rpsMesh.toFixed(0)} req/s (${(rpsMesh / rpsDirect).toFixed(2)}x)`);
    console.log('plaintext through the two agents: not measured (the tunnel has no plaintext mode)');
    const added = (k: 'p50' | 'p90' | 'p99'): number | undefined => {
      const [a, b] = [mesh[k], direct[k]];
      return a !== undefined && b !== undefined ? a - b : undefined;
    };
    writeResults(path.resolve(process.env.BENCH_CROSSNODE_OUT ?? 'bench/results/crossnode.json'), {
      version: 1, startedAt, finishedAt: new Date().toISOString(),
      fixedRate: { rps: 1000, seconds: 5, connections: 16, direct, mesh, addedMs: { p50: added('p50'), p90: added('p90'), p99: added('p99') } },
      maxThroughput: { tool: 'wrk -t1 -c16 -d5s', directRps: rpsDirect, meshRps: rpsMesh, ratio: rpsMesh / rpsDirect },
    });
    if (PROFILE_DIR !== undefined) {
      fs.mkdirSync(PROFILE_DIR, { recursive: true });
      for (const a of m.agents) process.kill(a.pid!, 'SIGUSR1');
      const profiles = c.nodes.map((n, i) => c.outside(n, NODE, [path.join(__dirname, 'clients/threadprof.js'), '5', path.resolve(PROFILE_DIR, `agent-${i}`)], { timeoutMs: 25_000 }));
      await new Promise((r) => setTimeout(r, 500));
      const during = await rate(VIP, 80);
      const written = (await Promise.all(profiles)).map((r) => [r.stdout.trim(), r.stderr.trim()].filter(Boolean).join('\n'));
      console.log(`profiled run: p50 ${f(during.p50)} p90 ${f(during.p90)} p99 ${f(during.p99)} ms; profiles (file, busiest functions by self samples):\n${written.join('\n')}`);
    }
  } finally {
    await m.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
