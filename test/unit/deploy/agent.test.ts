// The agent DaemonSet against the agent's fixed points (ports, probe paths, mounts, the CA's names) and
// against Kubernetes rules that only show up at apply or rollout time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { find, type Obj } from './helpers';

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

describe('DaemonSet nodemesh-agent', () => {
  const ds = find('base', 'DaemonSet', 'nodemesh-agent');
  const pod = ds.spec.template.spec as Obj;
  const agent = (pod.containers as Obj[]).find((c) => c.name === 'agent') as Obj;
  const inits = pod.initContainers as Obj[];
  const init = (name: string): Obj => {
    const c = inits.find((x) => x.name === name);
    assert.ok(c, `no init container ${name}`);
    return c;
  };
  const args = agent.args as string[];
  const f = flags(args);
  const mount = (c: Obj, volume: string): Obj => {
    const m = ((c.volumeMounts ?? []) as Obj[]).find((x) => x.name === volume);
    assert.ok(m, `${c.name} does not mount ${volume}`);
    return m;
  };
  const volume = (name: string): Obj => {
    const v = (pod.volumes as Obj[]).find((x) => x.name === name);
    assert.ok(v, `no volume ${name}`);
    return v;
  };
  /** The volume mounted at the directory holding FILE. */
  const volumeOf = (file: string): Obj => {
    const m = (agent.volumeMounts as Obj[]).find((x) => file.startsWith(`${x.mountPath}/`));
    assert.ok(m, `nothing is mounted where ${file} is`);
    return volume(m.name);
  };

  it('is a node agent: host network, cluster DNS, node-critical, every taint tolerated', () => {
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.equal(pod.priorityClassName, 'system-node-critical');
    assert.ok((pod.tolerations as Obj[]).some((t) => t.operator === 'Exists' && !t.key && !t.effect));
    assert.equal(pod.terminationGracePeriodSeconds, 30);
    assert.equal(pod.serviceAccountName, 'nodemesh-agent');
    // In-cluster discovery reads the ServiceAccount token the kubelet mounts.
    assert.notEqual(pod.automountServiceAccountToken, false);
    assert.equal(ds.spec.updateStrategy.type, 'RollingUpdate');
  });

  it('surges (the new agent takes over before the old one stops), so it declares no ports (hostNetwork makes them hostPorts)', () => {
    const declares = (pod.containers as Obj[]).some((c) => (c.ports ?? []).length > 0);
    assert.equal(declares, false);
    assert.equal(ds.spec.updateStrategy.rollingUpdate.maxSurge, 1);
    assert.equal(ds.spec.updateStrategy.rollingUpdate.maxUnavailable, 0);
    // The privileged init step lets a stopping agent's queued connections move to the next one.
    const init = (pod.initContainers as Obj[]).find((c) => c.name === 'mount-host-fs') as Obj;
    assert.match(init.command.join(' '), /tcp_migrate_req/);
  });

  it('runs `agent` with the fixed ports, the node identity from the downward API and the cluster names', () => {
    assert.equal(args[0], 'agent');
    assert.equal(f.get('--outbound-port'), '15001');
    assert.equal(f.get('--tunnel-port'), '15008');
    assert.equal(f.get('--metrics-port'), '15020');
    assert.equal(f.get('--ready-port'), '15021');
    assert.equal(f.get('--node'), '$(NODE_NAME)');
    assert.equal(f.get('--node-ip'), '$(NODE_IP)');
    const env = new Map((agent.env as Obj[]).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    assert.equal(env.get('NODE_NAME'), 'spec.nodeName');
    assert.equal(env.get('NODE_IP'), 'status.hostIP');
    assert.equal(f.get('--cluster-id'), 'Kubernetes');
    assert.equal(f.get('--cluster-domain'), 'cluster.local');
    // In a pod the agent uses the in-cluster config; a kubeconfig file would be a second credential.
    assert.equal(f.has('--kubeconfig'), false);
  });

  it('probes the readiness endpoint', () => {
    assert.deepEqual(agent.readinessProbe.httpGet, { path: '/healthz/ready', port: 15021 });
    const live = agent.livenessProbe as Obj;
    assert.equal(live.httpGet?.port ?? live.tcpSocket?.port, 15021);
    // Liveness never follows readiness: an API or CA that is away must not restart the agent.
    assert.notEqual(live.httpGet?.path, '/healthz/ready');
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
    assert.equal(sc.allowPrivilegeEscalation, false);
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
    const m = init('mount-host-fs');
    assert.equal(m.securityContext.privileged, true);
    for (const v of ['bpffs', 'cgroup2']) assert.equal(mount(m, v).mountPropagation, 'Bidirectional');
    const script = (m.command as string[]).join(' ');
    assert.match(script, /mount -t bpf bpf \/sys\/fs\/bpf/);
    assert.match(script, /nsenter --cgroup=\/hostproc\/1\/ns\/cgroup -- mount -t cgroup2 none \/run\/nodemesh\/cgroupv2/);
    assert.equal(mount(m, 'hostproc').mountPath, '/hostproc');
    assert.equal(volume('hostproc').hostPath.path, '/proc');
    // Only privileged containers may use Bidirectional; nothing else may be privileged.
    for (const c of [...inits, ...(pod.containers as Obj[])]) {
      const bidi = ((c.volumeMounts ?? []) as Obj[]).some((x) => x.mountPropagation === 'Bidirectional');
      assert.equal(c.securityContext?.privileged === true, bidi, c.name);
    }
  });

  it('sets up the delivery address from an init container with NET_ADMIN only, and the agent uses it', () => {
    const d = init('delivery-address');
    assert.deepEqual(d.command, ['ip', 'addr', 'replace', `${f.get('--delivery-address')}/32`, 'dev', 'lo']);
    assert.equal(f.get('--delivery-address'), '169.254.7.127');
    assert.notEqual(d.securityContext.privileged, true);
    assert.deepEqual(d.securityContext.capabilities, { add: ['NET_ADMIN'], drop: ['ALL'] });
    // The host's lo, not the pod's: only with hostNetwork.
    assert.equal(pod.hostNetwork, true);
  });

  describe('wiring to the CA', () => {
    const service = find('base', 'Service', 'nodemesh-ca');
    const caArgs = find('base', 'Deployment', 'nodemesh-ca').spec.template.spec.containers[0].args as string[];
    const ca = (flag: string): string | undefined => {
      const i = caArgs.indexOf(flag);
      return i < 0 ? undefined : caArgs[i + 1];
    };

    it('dials the CA Service by a name the CA serves', () => {
      const [host, port] = (f.get('--ca') ?? '').split(':');
      assert.equal(host, `${service.metadata.name}.${service.metadata.namespace}.svc`);
      assert.equal(Number(port), service.spec.ports[0].port);
      assert.ok((ca('--server-name') ?? '').split(',').includes(host as string), `--server-name lacks ${host}`);
      assert.equal(ca('--listen'), `0.0.0.0:${service.spec.ports[0].port}`);
    });

    it('reads the root from the ConfigMap the CA publishes, mounted optional (it appears after the CA starts)', () => {
      const root = f.get('--ca-root') as string;
      const v = volumeOf(root);
      assert.equal(v.configMap?.name, ca('--root-configmap'));
      assert.equal(v.configMap?.optional, true);
      assert.equal(root.split('/').pop(), 'root-cert.pem');
      assert.equal(root, '/var/run/nodemesh/ca/root-cert.pem');
      const m = (agent.volumeMounts as Obj[]).find((x) => x.name === v.name) as Obj;
      assert.equal(m.subPath, undefined, 'a subPath mount never sees the ConfigMap appear');
      assert.equal(ca('--root-secret'), `${service.metadata.namespace}/${ca('--root-configmap')}`);
    });

    it('authenticates with a projected ServiceAccount token for the CA audience, of the account the CA expects', () => {
      const token = f.get('--node-token') as string;
      const sources = volumeOf(token).projected?.sources as Obj[];
      assert.ok(sources, `${token} is not on a projected volume`);
      const sat = sources.find((s) => s.serviceAccountToken)?.serviceAccountToken as Obj;
      assert.equal(`${(agent.volumeMounts as Obj[]).find((x) => token.startsWith(`${x.mountPath}/`))?.mountPath}/${sat.path}`, token);
      assert.equal(sat.audience, 'nodemesh-ca');
      assert.equal(sat.audience, ca('--token-audience'));
      assert.equal(sat.expirationSeconds, 3600);
      assert.equal(ca('--agent-service-account'), `nodemesh-system/${pod.serviceAccountName}`);
    });
  });
});
