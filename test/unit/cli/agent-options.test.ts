import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentOptions, type AgentEnv } from '../../../src/cli/agent-options';
import { parseCommandLine } from '../../../src/cli/parse';
import { UsageError } from '../../../src/cli/values';
import { isMeshError } from '../../../src/errors';

const env = (o: Partial<AgentEnv> = {}): AgentEnv => ({
  hostname: 'host-a',
  defaultObjects: '/opt/nodemesh/build/bpf',
  kubernetesAvailable: (kc) => kc !== undefined,
  exists: () => true,
  ...o,
});

const build = (argv: string[], e: AgentEnv = env()) => {
  const inv = parseCommandLine(['agent', ...argv]);
  if (inv.kind !== 'run') assert.fail('not a run');
  return agentOptions(inv.flags, e);
};

test('defaults: what the agent ran with before, and nothing optional unless given', () => {
  const o = build(['--config', 'mesh.yaml']);
  assert.deepEqual(o, {
    config: 'mesh.yaml',
    clusterId: 'Kubernetes',
    clusterDomain: 'cluster.local',
    capture: true,
    cgroup: '/sys/fs/cgroup',
    bpffs: '/sys/fs/bpf/nodemesh',
    objects: '/opt/nodemesh/build/bpf',
    node: 'host-a',
    nodeIp: '127.0.0.1',
    outboundPort: 15001,
    adminHost: '0.0.0.0',
    metricsPort: 15020,
    readyPort: 15021,
    adminPort: 15000,
    accessLog: true,
    trustDomain: 'cluster.local',
    tunnelPort: 15008,
    deliveryAddress: 'auto',
    workers: 1,
  });
});

test('workers: the CPUs the cgroup allows unless --workers says (at least 1)', () => {
  const cpus = (n: number): Partial<AgentEnv> => ({ allowedCpus: () => ({ cpus: n, by: 'quota' }) });
  assert.equal(build(['--config', 'm'], env(cpus(3))).workers, 3);
  assert.equal(build(['--config', 'm', '--workers', '1'], env(cpus(3))).workers, 1);
  assert.equal(build(['--config', 'm', '--workers', '4'], env(cpus(1))).workers, 4);
  assert.throws(() => build(['--config', 'm', '--workers', '0']), /--workers/);
});

test('admin API: on 15000 by default, --admin-port moves it (0: any free port), --no-admin-api turns it off', () => {
  assert.equal(build(['--config', 'm', '--admin-port', '0']).adminPort, 0);
  assert.equal(build(['--config', 'm', '--admin-port', '15100']).adminPort, 15100);
  assert.equal('adminPort' in build(['--config', 'm', '--no-admin-api']), false);
});

test('the new flags map to AgentOptions when given', () => {
  const o = build(['--config', 'm', '--header-timeout', '2s', '--idle-timeout', '30s', '--drain-timeout', '0', '--max-services', '10', '--max-meshed-pods', '20', '--max-backends', '30', '--max-connections', '40', '--connect-timeout', '1s', '--request-timeout', '0', '--cert-ttl', '90m', '--access-log', 'off', '--no-capture']);
  assert.equal(o.headerTimeoutMs, 2000);
  assert.equal(o.idleTimeoutMs, 30_000);
  assert.equal(o.drainTimeoutMs, 0);
  assert.deepEqual(o.mapCapacity, { services: 10, backends: 30, connections: 40, meshedPods: 20 });
  assert.equal(o.connectTimeoutMs, 1000);
  assert.equal(o.requestTimeoutMs, 0);
  assert.equal(o.certTtlSeconds, 5400);
  assert.equal(o.accessLog, false);
  assert.equal(o.capture, false);
  assert.deepEqual(build(['--config', 'm', '--max-connections', '5']).mapCapacity, { connections: 5 });
});

test('rules between flags', () => {
  const usage = (argv: string[], re: RegExp, e?: AgentEnv) => assert.throws(() => build(argv, e), (x: unknown) => x instanceof UsageError && re.test(x.message), argv.join(' '));
  usage([], /--config PATH is required without Kubernetes discovery/);
  usage(['--kubeconfig', 'k', '--no-kubernetes'], /exclude each other/);
  usage(['--config', 'm', '--ca', 'ca:15012'], /--ca needs --ca-root FILE and --node-token FILE/);
  usage(['--config', 'm', '--ca-root', 'r'], /need --ca ADDR:PORT/);
  assert.throws(() => build(['--config', 'gone.yaml'], env({ exists: () => false })), (e: unknown) => isMeshError(e, 'CONFIG_READ'));
  assert.deepEqual(build(['--kubeconfig', 'k']).kubernetes, { kubeconfig: 'k' });
  assert.deepEqual(build(['--config', 'm', '--ca', 'ca:15012', '--ca-root', 'r', '--node-token', 't']).ca, { address: 'ca:15012', rootFile: 'r', tokenFile: 't' });
});
