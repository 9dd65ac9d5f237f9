// The CA's Deployment and Service, and the uninstall DaemonSet: what each promises in docs/deploy.md.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { find, type Obj } from './helpers';

describe('CA Deployment and Service', () => {
  const dep = find('base', 'Deployment', 'nodemesh-ca');
  const pod = dep.spec.template.spec as Obj;
  const ca = pod.containers[0] as Obj;
  const service = find('base', 'Service', 'nodemesh-ca');

  it('runs one stateless replica anywhere, with no host access', () => {
    assert.equal(dep.spec.replicas, 1);
    assert.equal(pod.hostNetwork, undefined);
    assert.equal(pod.nodeName, undefined);
    assert.ok(!(pod.volumes as Obj[]).some((v) => v.hostPath), 'the CA mounts nothing from the node');
    // The root lives in the Secret, so no volume holds state.
    assert.ok((pod.volumes as Obj[]).every((v) => v.emptyDir));
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
    // A new CA is up before the old one goes.
    assert.equal(dep.spec.strategy.rollingUpdate.maxUnavailable, 0);
  });

  it('runs as non-root with a read-only root filesystem and no capabilities', () => {
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    const sc = ca.securityContext as Obj;
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.notEqual(sc.privileged, true);
    assert.deepEqual(sc.capabilities, { drop: ['ALL'] });
    assert.ok(ca.resources.requests.cpu && ca.resources.requests.memory && ca.resources.limits.memory);
  });

  it('serves :15012 behind the Service nodemesh-ca, which selects exactly its pods', () => {
    const port = (ca.ports as Obj[])[0] as Obj;
    assert.equal(port.containerPort, 15012);
    assert.deepEqual(service.spec.ports, [{ name: port.name, port: 15012, targetPort: port.name, protocol: 'TCP' }]);
    assert.deepEqual(service.spec.selector, dep.spec.selector.matchLabels);
    const labels = dep.spec.template.metadata.labels as Obj;
    for (const [k, v] of Object.entries(service.spec.selector as Obj)) assert.equal(labels[k], v);
    assert.equal(ca.readinessProbe.tcpSocket.port, 15012);
    assert.equal(ca.livenessProbe.tcpSocket.port, 15012);
  });

  it('uses the API (in-cluster) instead of files: no --dir, --node-tokens or --config', () => {
    const args = ca.args as string[];
    for (const f of ['--dir', '--node-tokens', '--config', '--kubeconfig']) assert.ok(!args.includes(f), f);
    assert.notEqual(pod.automountServiceAccountToken, false);
  });
});

describe('uninstall DaemonSet', () => {
  const ds = find('uninstall', 'DaemonSet', 'nodemesh-uninstall');
  const pod = ds.spec.template.spec as Obj;
  const agentPod = find('base', 'DaemonSet', 'nodemesh-agent').spec.template.spec as Obj;
  const agentArgs = (agentPod.containers as Obj[]).find((c) => c.name === 'agent')?.args as string[];
  const agentFlag = (f: string): string => agentArgs[agentArgs.indexOf(f) + 1] as string;
  const clean = (pod.initContainers as Obj[])[0] as Obj;
  const script = (clean.command as string[]).join('\n');

  it('reaches every node the agent ran on', () => {
    assert.deepEqual(pod.tolerations, agentPod.tolerations);
    assert.deepEqual(pod.nodeSelector, agentPod.nodeSelector);
    assert.equal(pod.hostNetwork, true);
  });

  it("cleans in an init container, with the agent's own paths, then sleeps: Ready means clean", () => {
    assert.match(script, new RegExp(`nodemesh uninstall --bpffs ${agentFlag('--bpffs')} --cgroup ${agentFlag('--cgroup')}`));
    assert.match(script, new RegExp(`ip addr del ${agentFlag('--delivery-address').replace(/\./g, '\\.')}/32 dev lo`));
    assert.equal((clean.command as string[])[1], '-ec', 'a failed step must fail the init container');
    const [main] = pod.containers as Obj[];
    assert.deepEqual(main?.command, ['sleep', 'infinity']);
    assert.equal(main?.securityContext.runAsNonRoot, true);
  });

  it("mounts the same host paths as the agent, with capabilities and not privileged", () => {
    const hostPaths = (p: Obj): string[] => (p.volumes as Obj[]).flatMap((v) => (v.hostPath ? [v.hostPath.path] : [])).sort();
    assert.deepEqual(hostPaths(pod), ['/run/nodemesh/cgroupv2', '/sys/fs/bpf']);
    for (const m of clean.volumeMounts as Obj[]) {
      const v = (pod.volumes as Obj[]).find((x) => x.name === m.name) as Obj;
      if (v.hostPath) assert.equal(m.mountPath, v.hostPath.path);
    }
    const sc = clean.securityContext as Obj;
    assert.notEqual(sc.privileged, true);
    assert.deepEqual([...sc.capabilities.add].sort(), ['BPF', 'NET_ADMIN', 'SYS_ADMIN']);
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
    assert.equal(sc.readOnlyRootFilesystem, true);
  });
});
