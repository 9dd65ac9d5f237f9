// The nodemesh agent under bench: its own cgroup tree and pin directory per run, so it never meets a
// running agent's state. Layout: <cgroup2>/nodemesh-bench-<pid>/{agent,pods}; programs attach at the
// root, the agent runs in agent/ (exempt by its own cgroup id), wrk runs in pods/ and is captured.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureBpffs, ensureCgroup2, makeCgroup, removeCgroup, runInCgroup, stopChild } from '../test/helpers/sysenv';
import { meshYaml } from './configs';
import type { AgentLogging } from './tables';
import { failureSummary } from './wrk';
import { assertOpen, freePorts, isRunning, startInCgroup, waitReady, type Tracked } from './procs';

/** Where the agent is and where it logs; its logging fields left out are the agent's defaults. */
export interface MeshPaths extends AgentLogging {
  /** dist/src/main.js of the same build as this bench. */
  readonly agentMain: string;
  /** build/bpf of the checkout (passed explicitly: the agent may run from another dist/). */
  readonly bpfObjects: string;
  /** Run directory for the config file. */
  readonly dir: string;
  /** Where the agent's log is written (kept after the run for post-mortems). */
  readonly logFile: string;
  /** More agent flags after the bench's own (e.g. `--workers 2`). */
  readonly agentArgs?: readonly string[];
}

/**
 * The agent's environment: this process's, less what would change the agent's logging behind the
 * bench's back (a log level inherited from the shell, NODE_ENV=test which silences it).
 */
function agentEnv(p: MeshPaths): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODEMESH_LOG_LEVEL;
  if (env.NODE_ENV === 'test') delete env.NODE_ENV;
  if (p.logLevel !== undefined) env.NODEMESH_LOG_LEVEL = p.logLevel;
  return env;
}

export interface Mesh {
  readonly root: string;
  readonly podsCg: string;
  readonly agent: Tracked;
  readonly ports: { readonly outbound: number; readonly metrics: number; readonly ready: number };
}

const tag = `nodemesh-bench-${process.pid}`;
let cgRoot: string | undefined;
let pinDir: string | undefined;
let agentMainUsed: string | undefined;
let agentProc: Tracked | undefined;

/** Why the agent cannot be benchmarked from this checkout, or undefined when it can be tried. */
export function meshUnavailable(p: MeshPaths): string | undefined {
  if (!fs.existsSync(p.agentMain)) return `agent not built (${path.basename(p.agentMain)} missing: run make)`;
  const objs = fs.existsSync(p.bpfObjects) ? fs.readdirSync(p.bpfObjects).filter((f) => f.endsWith('.bpf.o')) : [];
  if (objs.length === 0) return `eBPF objects not built (no *.bpf.o in ${p.bpfObjects}: run make)`;
  return undefined;
}

/**
 * Creates the cgroups, writes the mesh config, starts the agent and waits until it reports ready.
 * Throws with the agent's last log lines when it does not come up; `cleanupMesh` undoes everything.
 * `config` replaces the default two services (the HTTP/2 and routing benches bring their own).
 */
export async function startMesh(
  p: MeshPaths, backendPort: number, readyTimeoutMs = 20_000, config: string = meshYaml(backendPort),
): Promise<Mesh> {
  assertOpen();
  cgRoot = path.join(ensureCgroup2(), tag);
  pinDir = path.join(ensureBpffs(), tag);
  agentMainUsed = p.agentMain;
  const agentCg = makeCgroup(path.join(cgRoot, 'agent'));
  const podsCg = makeCgroup(path.join(cgRoot, 'pods'));
  const configFile = path.join(p.dir, 'mesh.yaml');
  fs.writeFileSync(configFile, config);

  // Explicit ports for every listener, so an agent already running on this host cannot clash.
  const [outbound, metrics, ready] = (await freePorts(3)) as [number, number, number];
  fs.writeFileSync(p.logFile, '');
  // The agent runs with the flags bin/nodemesh gives it; BENCH_AGENT_NODE_ARGS adds more (e.g.
  // "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const nodeArgs = ['--max-semi-space-size=16', ...(process.env.BENCH_AGENT_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)];
  const agent = (agentProc = startInCgroup('agent', agentCg, process.execPath, [
    ...nodeArgs,
    p.agentMain, 'agent',
    '--config', configFile,
    '--cgroup', cgRoot,
    '--bpffs', pinDir,
    '--bpf-objects', p.bpfObjects,
    '--node', 'bench',
    '--node-ip', '127.0.0.1',
    '--outbound-port', String(outbound),
    '--metrics-port', String(metrics),
    '--ready-port', String(ready),
    '--admin-host', '127.0.0.1',
    ...(p.accessLog === false ? ['--access-log', 'off'] : []),
    ...(p.agentArgs ?? []),
  ], p.logFile, agentEnv(p)));
  await waitReady(agent, `http://127.0.0.1:${ready}/healthz/ready`, readyTimeoutMs);
  return { root: cgRoot, podsCg, agent, ports: { outbound, metrics, ready } };
}

/**
 * One request through a VIP from inside the pods cgroup: proves the path works before wrk hammers it.
 * `curlArgs` go before the URL (e.g. `--http2-prior-knowledge` for an h2c service).
 */
export async function probeVip(mesh: Mesh, url: string, curlArgs: readonly string[] = []): Promise<void> {
  assertOpen();
  let out: string;
  try {
    out = await runInCgroup(mesh.podsCg, 'curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', ...curlArgs, url]);
  } catch (e) {
    // Nothing listens on a VIP: a refused connection means connect4 did not rewrite it.
    const msg = (e instanceof Error ? e.message : String(e)).replace(/^curl exited \d+: /, '').trim();
    throw new Error(`GET ${url} from the pods cgroup failed (not captured?): ${msg}`);
  }
  if (out.trim() !== '200') throw new Error(`GET ${url} from the pods cgroup answered ${out.trim() || 'nothing'}, not 200`);
}

/** The response headers of one GET through a VIP from the pods cgroup (to check a route's header edits). */
export async function vipResponseHeaders(mesh: Mesh, url: string): Promise<string> {
  assertOpen();
  return runInCgroup(mesh.podsCg, 'curl', ['-sS', '-o', '/dev/null', '-D', '-', '--max-time', '3', url]);
}

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve(err ? `failed: ${failureSummary((stderr || err.message).split('\n'))}` : stdout.trim()));
  });
}

/** Pids still in a cgroup tree we created: only processes this run started can be there. */
function pidsIn(dir: string): number[] {
  if (!fs.existsSync(dir)) return [];
  const own = fs.existsSync(path.join(dir, 'cgroup.procs'))
    ? fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)
    : [];
  const kids = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory());
  return [...own, ...kids.flatMap((e) => pidsIn(path.join(dir, e.name)))];
}

/**
 * Stops the agent (SIGTERM drains), runs `nodemesh uninstall` for this run's pins and cgroup, removes
 * what uninstall left, kills stragglers in our cgroups by pid and removes the cgroups. Idempotent, and
 * safe to call when startMesh failed halfway. Returns warnings for the report.
 */
export async function cleanupMesh(): Promise<string[]> {
  const warnings: string[] = [];
  if (agentProc && isRunning(agentProc.child)) await stopChild(agentProc.child, 10_000);
  agentProc = undefined;
  if (pinDir && cgRoot && agentMainUsed && fs.existsSync(agentMainUsed)) {
    const out = await run(process.execPath, [agentMainUsed, 'uninstall', '--bpffs', pinDir, '--cgroup', cgRoot], 20_000);
    if (out.startsWith('failed:')) warnings.push(`nodemesh uninstall ${out}`);
  }
  if (pinDir && fs.existsSync(pinDir)) {
    // Unlinking the pins releases programs and maps once no process holds them.
    fs.rmSync(pinDir, { recursive: true, force: true });
    warnings.push(`pins were left in ${pinDir} after uninstall; removed them`);
  }
  if (cgRoot) {
    for (const pid of pidsIn(cgRoot)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    removeCgroup(cgRoot);
    if (fs.existsSync(cgRoot)) warnings.push(`cgroup ${cgRoot} could not be removed`);
  }
  cgRoot = undefined;
  pinDir = undefined;
  return warnings;
}
