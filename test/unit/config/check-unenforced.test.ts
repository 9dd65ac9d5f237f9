// `nodemesh check` warns when security policies would not be enforced: a file without Node documents
// runs no tunnel and holds no identities, unless the agent gets its nodes from Kubernetes discovery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unenforced } from '../../../src/config/check';
import { formatIssues } from '../../../src/config/load';
import { docs, echoSpec, mustLoad, serviceEntry } from './helpers';

const allow = {
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: 'only-front', namespace: 'default' },
  spec: { action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/front'] } }] }] },
};
const node = { apiVersion: 'nodemesh.io/v1alpha1', kind: 'Node', metadata: { name: 'node-0' }, spec: { addresses: ['10.0.0.1'] } };

const cases: readonly { name: string; objects: unknown[]; warns: RegExp | undefined }[] = [
  { name: 'no policies: nothing to say', objects: [serviceEntry('echo', echoSpec())], warns: undefined },
  { name: 'a policy without nodes: named, with what to do', objects: [serviceEntry('echo', echoSpec()), allow], warns: /AuthorizationPolicy default\/only-front is enforced only in a mesh with nodes: add the nodemesh\.io\/v1alpha1 Node documents, or run the agent with Kubernetes discovery/ },
  { name: 'a policy with nodes: enforced, no warning', objects: [serviceEntry('echo', echoSpec()), allow, node], warns: undefined },
];

for (const c of cases) {
  test(`check: ${c.name}`, () => {
    const found = unenforced('mesh.yaml', mustLoad(docs(...c.objects)));
    if (c.warns === undefined) assert.deepEqual(found, []);
    else assert.match(formatIssues(found), c.warns);
  });
}
