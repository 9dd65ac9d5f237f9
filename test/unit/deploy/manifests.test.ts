// deploy/base must agree with the agent's fixed points (CLI flags, ports, probe paths, mounts) and with
// Kubernetes' own rules that only show up at apply or rollout time. Docker and a cluster are not
// available in CI, so this is where the manifests get checked.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';

// The compiled test may live in any outDir: find the checkout by walking up, falling back to the cwd.
function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'deploy/base/kustomization.yaml'))) return d;
  }
  return process.cwd();
}
const BASE = path.join(repoRoot(), 'deploy/base');

// Manifests are untyped YAML: tests walk them through this loose view and assert on what they find.
type Obj = Record<string, any>;

function load(file: string): Obj[] {
  const docs = parseAllDocuments(fs.readFileSync(path.join(BASE, file), 'utf8'));
  return docs.map((d, i) => {
    assert.deepEqual(d.errors, [], `${file} document ${i} does not parse`);
    return d.toJS() as Obj;
  }).filter((d) => d !== null);
}

const files = fs.readdirSync(BASE).filter((f) => /\.ya?ml$/.test(f)).sort();
const all = files.filter((f) => f !== 'kustomization.yaml').flatMap((f) => load(f).map((doc) => ({ file: f, doc })));
const find = (kind: string, name?: string): Obj => {
  const hit = all.find(({ doc }) => doc.kind === kind && (name === undefined || doc.metadata?.name === name));
  assert.ok(hit, `no ${kind}${name ? ` ${name}` : ''} in deploy/base`);
  return hit.doc;
};

/** `--flag value` pairs of the agent's args (every flag the DaemonSet passes takes a value). */
function flags(args: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 1; i < args.length; i += 2) {
    const k = args[i] ?? '';
    assert.match(k, /^--[a-z-]+$/, `expected a flag at args[${i}], got ${k}`);
    assert.ok(args[i + 1] !== undefined, `${k} has no value`);
    m.set(k, String(args[i + 1]));
  }
  return m;
}

describe('deploy/base', () => {
  it('parses, and the kustomization lists exactly the manifests in the directory', () => {
    const [k] = load('kustomization.yaml');
    assert.deepEqual([...(k?.resources as string[])].sort(), files.filter((f) => f !== 'kustomization.yaml'));
    assert.equal(k?.namespace, 'nodemesh-system');
    assert.deepEqual(k?.labels?.[0]?.pairs, { 'app.kubernetes.io/name': 'nodemesh' });
  });

  it('puts every namespaced object in nodemesh-system', () => {
    find('Namespace', 'nodemesh-system');
    for (const { file, doc } of all) {
      if (['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(doc.kind)) continue;
      assert.equal(doc.metadata?.namespace, 'nodemesh-system', `${file}: ${doc.kind} ${doc.metadata?.name}`);
    }
  });

  it('grants read-only access to pods, services, endpointslices and nodes, bound to the agent', () => {
    const role = find('ClusterRole', 'nodemesh-agent');
    const granted = (role.rules as Obj[]).flatMap((r) => (r.resources as string[]).map((res) => `${r.apiGroups[0]}/${res}`));
    assert.deepEqual(granted.sort(), ['/nodes', '/pods', '/services', 'discovery.k8s.io/endpointslices']);
    for (const r of role.rules as Obj[]) assert.deepEqual([...r.verbs].sort(), ['get', 'list', 'watch']);
    const binding = find('ClusterRoleBinding', 'nodemesh-agent');
    assert.equal(binding.roleRef.name, 'nodemesh-agent');
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'nodemesh-agent', namespace: 'nodemesh-system' }]);
    find('ServiceAccount', 'nodemesh-agent');
  });

  describe('DaemonSet nodemesh-agent', () => {
    const ds = find('DaemonSet', 'nodemesh-agent');
    const pod = ds.spec.template.spec as Obj;
    const agent = (pod.containers as Obj[]).find((c) => c.name === 'agent') as Obj;
    const args = agent.args as string[];
    const f = flags(args);
    const mount = (c: Obj, volume: string): Obj => {
      const m = (c.volumeMounts as Obj[]).find((x) => x.name === volume);
      assert.ok(m, `${c.name} does not mount ${volume}`);
      return m;
    };
    const volume = (name: string): Obj => (pod.volumes as Obj[]).find((v) => v.name === name) as Obj;

    it('is a node agent: host network, cluster DNS, node-critical, every taint tolerated', () => {
      assert.equal(pod.hostNetwork, true);
      assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
      assert.equal(pod.priorityClassName, 'system-node-critical');
      assert.ok((pod.tolerations as Obj[]).some((t) => t.operator === 'Exists' && !t.key && !t.effect));
      assert.equal(pod.terminationGracePeriodSeconds, 30);
      assert.equal(pod.serviceAccountName, 'nodemesh-agent');
      assert.equal(ds.spec.updateStrategy.type, 'RollingUpdate');
    });

    it('never surges while it declares ports (hostNetwork makes them hostPorts: the rollout would stall)', () => {
      const declares = (pod.containers as Obj[]).some((c) => (c.ports ?? []).length > 0);
      const surge = ds.spec.updateStrategy.rollingUpdate?.maxSurge ?? 0;
      if (declares) assert.equal(surge, 0);
      assert.ok(ds.spec.updateStrategy.rollingUpdate.maxUnavailable >= 1);
    });

    it('runs `agent` with the fixed ports, the node identity and the mounted paths', () => {
      assert.equal(args[0], 'agent');
      assert.equal(f.get('--outbound-port'), '15001');
      assert.equal(f.get('--metrics-port'), '15020');
      assert.equal(f.get('--ready-port'), '15021');
      assert.equal(f.get('--node'), '$(NODE_NAME)');
      assert.equal(f.get('--node-ip'), '$(NODE_IP)');
      const env = new Map((agent.env as Obj[]).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
      assert.equal(env.get('NODE_NAME'), 'spec.nodeName');
      assert.equal(env.get('NODE_IP'), 'status.hostIP');
      const known = ['--config', '--cgroup', '--bpffs', '--node', '--node-ip', '--no-capture', '--outbound-port',
        '--admin-host', '--metrics-port', '--ready-port', '--bpf-objects'];
      for (const k of f.keys()) assert.ok(known.includes(k), `unknown agent flag ${k}`);
    });

    it('declares the ports and probes the readiness endpoint', () => {
      const ports = (agent.ports as Obj[]).map((p) => p.containerPort).sort();
      assert.deepEqual(ports, [15001, 15020, 15021]);
      assert.deepEqual(agent.readinessProbe.httpGet, { path: '/healthz/ready', port: 15021 });
      const live = agent.livenessProbe as Obj;
      assert.equal(live.httpGet?.port ?? live.tcpSocket?.port, 15021);
      // Generous: at least a minute of failures before a restart.
      assert.ok(live.periodSeconds * live.failureThreshold >= 60);
      const ann = ds.spec.template.metadata.annotations as Obj;
      assert.equal(ann['prometheus.io/scrape'], 'true');
      assert.equal(ann['prometheus.io/port'], f.get('--metrics-port'));
      assert.equal(ann['prometheus.io/path'], '/stats/prometheus');
    });

    it('uses capabilities, not privileged, with a read-only root filesystem', () => {
      const sc = agent.securityContext as Obj;
      assert.notEqual(sc.privileged, true);
      assert.deepEqual([...sc.capabilities.add].sort(), ['BPF', 'NET_ADMIN', 'PERFMON', 'SYS_ADMIN', 'SYS_RESOURCE']);
      assert.deepEqual(sc.capabilities.drop, ['ALL']);
      assert.equal(sc.runAsUser, 0);
      assert.equal(sc.readOnlyRootFilesystem, true);
      assert.ok(agent.resources.requests.cpu && agent.resources.requests.memory && agent.resources.limits.memory);
    });

    it('mounts bpffs, the host cgroup2 and the config directory where the flags point', () => {
      assert.equal(volume('bpffs').hostPath.path, '/sys/fs/bpf');
      assert.equal(volume('cgroup2').hostPath.path, '/run/nodemesh/cgroupv2');
      assert.ok((f.get('--bpffs') ?? '').startsWith(`${mount(agent, 'bpffs').mountPath}/`));
      assert.equal(f.get('--cgroup'), mount(agent, 'cgroup2').mountPath);
      assert.equal(f.get('--cgroup'), '/run/nodemesh/cgroupv2');
      // Mounts made on the host by the init container must reach the already-running agent.
      for (const v of ['bpffs', 'cgroup2']) assert.equal(mount(agent, v).mountPropagation, 'HostToContainer');
      const cfg = mount(agent, 'config');
      assert.equal(f.get('--config'), cfg.mountPath);
      assert.equal(cfg.subPath, undefined, 'a subPath mount never sees ConfigMap updates');
      assert.equal(volume('config').configMap.name, 'nodemesh-config');
    });

    it('mounts bpffs and the host cgroup2 from a privileged init container (Bidirectional needs it)', () => {
      const init = (pod.initContainers as Obj[])[0] as Obj;
      assert.equal(init.securityContext.privileged, true);
      for (const v of ['bpffs', 'cgroup2']) assert.equal(mount(init, v).mountPropagation, 'Bidirectional');
      const script = (init.command as string[]).join(' ');
      assert.match(script, /mount -t bpf bpf \/sys\/fs\/bpf/);
      assert.match(script, /nsenter --cgroup=\/hostproc\/1\/ns\/cgroup -- mount -t cgroup2 none \/run\/nodemesh\/cgroupv2/);
      assert.equal(mount(init, 'hostproc').mountPath, '/hostproc');
      assert.equal(volume('hostproc').hostPath.path, '/proc');
      // Only privileged containers may use Bidirectional; the agent must not need it.
      for (const c of [...(pod.initContainers as Obj[]), ...(pod.containers as Obj[])]) {
        for (const m of c.volumeMounts as Obj[]) {
          if (m.mountPropagation === 'Bidirectional') assert.equal(c.securityContext?.privileged, true, `${c.name}/${m.name}`);
        }
      }
    });
  });

  it('ships a sample mesh.yaml that the agent accepts', async () => {
    const cm = find('ConfigMap', 'nodemesh-config');
    const text = cm.data?.['mesh.yaml'] as string;
    assert.ok(text, 'ConfigMap nodemesh-config has no mesh.yaml');
    assert.ok(parseAllDocuments(text).length >= 1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodemesh-deploy-test-'));
    try {
      const file = path.join(dir, 'mesh.yaml');
      fs.writeFileSync(file, text);
      // Loaded lazily so the structural checks above still report if config/ does not build.
      const { loadConfig } = await import('../../../src/config/load');
      const r = await loadConfig(file);
      if (!r.ok) assert.fail(`sample mesh.yaml rejected: ${JSON.stringify(r.issues, null, 2)}`);
      const services = r.config.services;
      assert.deepEqual(services.map((s) => s.dataplane).sort(), ['kernel', 'proxy']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
