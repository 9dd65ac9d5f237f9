// RBAC grants exactly what the agent and the CA use, bound to the accounts their pods run as. A grant
// missing here is a 403 in the cluster; a grant too many is access nobody reviewed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { find, loadDocs, objects, type Obj } from './helpers';

/** `group/resource[name]: verbs` lines of a role, one per resource name, sorted. */
function grants(role: Obj): string[] {
  return (role.rules as Obj[])
    .flatMap((r) =>
      (r.apiGroups as string[]).flatMap((g) =>
        (r.resources as string[]).flatMap((res) =>
          ((r.resourceNames as string[] | undefined) ?? ['*']).map((n) => `${g}/${res}[${n}]: ${[...r.verbs].sort().join(',')}`),
        ),
      ),
    )
    .sort();
}

function boundTo(dir: string, kind: 'ClusterRoleBinding' | 'RoleBinding', name: string, account: string, ns = 'nodemesh-system'): void {
  const b = find(dir, kind, name);
  assert.equal(b.roleRef.name, name);
  assert.equal(b.roleRef.kind, kind === 'RoleBinding' ? 'Role' : 'ClusterRole');
  assert.equal(b.roleRef.apiGroup, 'rbac.authorization.k8s.io');
  assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: account, namespace: ns }]);
}

describe('RBAC', () => {
  const read = 'get,list,watch';

  it('the agent reads services, pods, namespaces, nodes and endpointslices, and writes only Events', () => {
    assert.deepEqual(grants(find('base', 'ClusterRole', 'nodemesh-agent')), [
      '/events[*]: create,patch',
      `/namespaces[*]: ${read}`,
      `/nodes[*]: ${read}`,
      `/pods[*]: ${read}`,
      `/services[*]: ${read}`,
      `discovery.k8s.io/endpointslices[*]: ${read}`,
      'events.k8s.io/events[*]: create,patch',
    ]);
    boundTo('base', 'ClusterRoleBinding', 'nodemesh-agent', 'nodemesh-agent');
    find('base', 'ServiceAccount', 'nodemesh-agent');
  });

  it("the Istio overlay adds read access to Istio's eight kinds, and nothing else", () => {
    assert.deepEqual(grants(find('overlays/istio-crds', 'ClusterRole', 'nodemesh-agent-istio')), [
      `networking.istio.io/destinationrules[*]: ${read}`,
      `networking.istio.io/serviceentries[*]: ${read}`,
      `networking.istio.io/virtualservices[*]: ${read}`,
      `networking.istio.io/workloadentries[*]: ${read}`,
      `security.istio.io/authorizationpolicies[*]: ${read}`,
      `security.istio.io/peerauthentications[*]: ${read}`,
      `security.istio.io/requestauthentications[*]: ${read}`,
      `telemetry.istio.io/telemetries[*]: ${read}`,
    ]);
    boundTo('overlays/istio-crds', 'ClusterRoleBinding', 'nodemesh-agent-istio', 'nodemesh-agent');
    const kinds = objects.filter((o) => o.file.startsWith('overlays/istio-crds/')).map((o) => o.doc.kind).sort();
    assert.deepEqual(kinds, ['ClusterRole', 'ClusterRoleBinding']);
  });

  it('the credentials overlay grants reading only the named Secrets of one namespace, to the agent', () => {
    const role = find('overlays/credential-secrets', 'Role', 'nodemesh-agent-credentials');
    const [k] = loadDocs('overlays/credential-secrets/kustomization.yaml');
    assert.equal(role.metadata.namespace, k?.namespace);
    const lines = grants(role);
    assert.ok(lines.length > 0);
    for (const line of lines) assert.match(line, /^\/secrets\[[a-z0-9.-]+\]: get,list,watch$/);
    const b = find('overlays/credential-secrets', 'RoleBinding', 'nodemesh-agent-credentials');
    assert.equal(b.metadata.namespace, k?.namespace);
    assert.deepEqual(b.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'nodemesh-agent-credentials' });
    assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: 'nodemesh-agent', namespace: 'nodemesh-system' }]);
    const kinds = objects.filter((o) => o.file.startsWith('overlays/credential-secrets/')).map((o) => o.doc.kind).sort();
    assert.deepEqual(kinds, ['Role', 'RoleBinding']);
  });

  it('the CA creates TokenReviews and reads pods cluster-wide', () => {
    assert.deepEqual(grants(find('base', 'ClusterRole', 'nodemesh-ca')), [
      `/pods[*]: ${read}`,
      'authentication.k8s.io/tokenreviews[*]: create',
    ]);
    boundTo('base', 'ClusterRoleBinding', 'nodemesh-ca', 'nodemesh-ca');
    find('base', 'ServiceAccount', 'nodemesh-ca');
  });

  it('the CA keeps its root in its own namespace: creates, and reads or updates only nodemesh-ca-root', () => {
    const role = find('base', 'Role', 'nodemesh-ca');
    assert.equal(role.metadata.namespace, 'nodemesh-system');
    assert.deepEqual(grants(role), [
      '/configmaps[*]: create',
      '/configmaps[nodemesh-ca-root]: get,update',
      '/secrets[*]: create',
      '/secrets[nodemesh-ca-root]: get,update',
    ]);
    boundTo('base', 'RoleBinding', 'nodemesh-ca', 'nodemesh-ca');
    const args = find('base', 'Deployment', 'nodemesh-ca').spec.template.spec.containers[0].args as string[];
    assert.equal(args[args.indexOf('--root-secret') + 1], 'nodemesh-system/nodemesh-ca-root');
    assert.equal(args[args.indexOf('--root-configmap') + 1], 'nodemesh-ca-root');
  });

  it('each workload runs as the account its roles are bound to', () => {
    assert.equal(find('base', 'DaemonSet', 'nodemesh-agent').spec.template.spec.serviceAccountName, 'nodemesh-agent');
    assert.equal(find('base', 'Deployment', 'nodemesh-ca').spec.template.spec.serviceAccountName, 'nodemesh-ca');
    // The uninstall talks to no API.
    assert.equal(find('uninstall', 'DaemonSet', 'nodemesh-uninstall').spec.template.spec.automountServiceAccountToken, false);
  });

  it('no role anywhere grants wildcards, secrets cluster-wide, or escalation verbs', () => {
    for (const { file, doc } of objects.filter((o) => o.doc.kind === 'ClusterRole' || o.doc.kind === 'Role')) {
      for (const line of grants(doc)) {
        assert.doesNotMatch(line, /^\*\/|\/\*\[|: .*\*|escalate|bind|impersonate/, `${file}: ${line}`);
        if (doc.kind === 'ClusterRole') assert.doesNotMatch(line, /^\/secrets/, `${file}: ${line}`);
      }
    }
  });
});
