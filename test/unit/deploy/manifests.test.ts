// Everything under deploy/ must be what the API server accepts and what the binaries accept. There is
// no cluster and no container engine in CI, so this is where the manifests get checked: Kubernetes'
// OpenAPI schemas (kubernetes-models), the API's own field set (the official client's models), the
// kustomizations' references, and the CLI flag tables in src/.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { flagNames } from '../../../src/cli/flags';
import {
  DEPLOY, find, flagsIn, flagTable, kustomizationDirs, kustomized, loadDocs, objects, packageVersion,
  schemaProblem, unknownFields, yamlFiles, type Obj,
} from './helpers';

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

describe('every manifest under deploy/', () => {
  it('finds the base, the Istio overlay and the uninstall kustomizations', () => {
    for (const d of ['base', 'overlays/istio-crds', 'uninstall']) assert.ok(kustomizationDirs.includes(d), `deploy/${d}`);
    assert.ok(objects.length >= 15, `only ${objects.length} objects under deploy/`);
  });

  it('validates against the Kubernetes OpenAPI schemas', () => {
    const problems = objects.flatMap(({ file, doc }) => {
      const p = schemaProblem(doc);
      return p === undefined ? [] : [`${file}: ${doc.kind} ${doc.metadata?.name}: ${p}`];
    });
    assert.deepEqual(problems, []);
  });

  it('uses only fields the API knows (kubectl apply validates strictly)', () => {
    const problems = objects.flatMap(({ file, doc }) => unknownFields(doc).map((f) => `${file}: ${doc.kind} ${doc.metadata?.name}: ${f}`));
    assert.deepEqual(problems, []);
  });

  it('the two checks above do catch mistakes (a wrong type, a missing field, a misspelt field)', () => {
    const ds = structuredClone(find('base', 'DaemonSet', 'nodemesh-agent'));
    const c = ds.spec.template.spec.containers[0] as Obj;
    c.ports = [{ name: 'outbound', containerPort: '15001', protocol: 'TCP' }];
    assert.match(schemaProblem(ds) ?? '', /containerPort must be integer/);
    delete c.name;
    c.ports[0].containerPort = 15001;
    assert.match(schemaProblem(ds) ?? '', /must have required property '?name'?/);
    c.name = 'agent';
    c.securityContext.capabilites = c.securityContext.capabilities;
    assert.deepEqual(unknownFields(ds), ['.spec.template.spec.containers.0.securityContext.capabilites']);
    assert.match(schemaProblem({ apiVersion: 'gadgets.nodemesh.io/v1', kind: 'Gadget' }) ?? '', /no Kubernetes schema/);
  });

  it('puts every namespaced object in the namespace its kustomization sets', () => {
    for (const dir of kustomizationDirs) {
      const [k] = loadDocs(`${dir}/kustomization.yaml`);
      for (const { file, doc } of kustomized(dir)) {
        if (CLUSTER_SCOPED.has(doc.kind)) continue;
        assert.equal(doc.metadata?.namespace, k?.namespace, `${file}: ${doc.kind} ${doc.metadata?.name}`);
      }
    }
  });

  it('runs every nodemesh container on the image tagged with the package version', () => {
    const tag = packageVersion();
    for (const dir of kustomizationDirs) {
      const [k] = loadDocs(`${dir}/kustomization.yaml`);
      for (const img of (k?.images ?? []) as Obj[]) assert.deepEqual(img, { name: 'nodemesh', newTag: tag }, dir);
    }
    for (const { file, doc } of objects) {
      const pod = doc.spec?.template?.spec as Obj | undefined;
      for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])] as Obj[]) {
        assert.equal(c.image, `nodemesh:${tag}`, `${file}: ${c.name}`);
      }
    }
  });
});

describe('kustomizations', () => {
  for (const dir of kustomizationDirs) {
    it(`deploy/${dir}: every resource exists, and every manifest in the directory is listed`, () => {
      const [k] = loadDocs(`${dir}/kustomization.yaml`);
      assert.equal(k?.apiVersion, 'kustomize.config.k8s.io/v1beta1');
      assert.equal(k?.kind, 'Kustomization');
      const resources = (k?.resources ?? []) as string[];
      // deploy/dashboards builds its ConfigMaps from files (configMapGenerator) and lists no resources.
      assert.ok(resources.length > 0 || ((k?.configMapGenerator ?? []) as unknown[]).length > 0);
      for (const r of resources) {
        const p = path.join(DEPLOY, dir, r);
        assert.ok(fs.existsSync(p), `${dir}: ${r} does not exist`);
        if (fs.statSync(p).isDirectory()) assert.ok(fs.existsSync(path.join(p, 'kustomization.yaml')), `${dir}: ${r} is no kustomization`);
        else assert.ok(loadDocs(path.relative(DEPLOY, p)).length > 0, `${dir}: ${r} is empty`);
      }
      const here = yamlFiles.filter((f) => path.dirname(f) === dir && path.basename(f) !== 'kustomization.yaml').map((f) => path.basename(f));
      assert.deepEqual(resources.filter((r) => !r.includes('/')).sort(), here.sort());
    });
  }

  it('the base is self-contained, and the app label goes into its selectors', () => {
    const [k] = loadDocs('base/kustomization.yaml');
    assert.equal(k?.namespace, 'nodemesh-system');
    // ../dashboards only: its JSON files must sit in a kustomization directory of their own.
    assert.ok((k?.resources as string[]).every((r) => !r.includes('/') || r === '../dashboards'));
    assert.deepEqual(k?.labels, [{ pairs: { 'app.kubernetes.io/name': 'nodemesh' }, includeSelectors: true }]);
  });

  it('the Istio overlay is the base plus Istio read access, and changes no selector', () => {
    const [k] = loadDocs('overlays/istio-crds/kustomization.yaml');
    assert.ok((k?.resources as string[]).includes('../../base'));
    assert.equal(k?.namespace, 'nodemesh-system');
    // A second includeSelectors label would change the base's immutable selectors on upgrade.
    for (const l of (k?.labels ?? []) as Obj[]) assert.notEqual(l.includeSelectors, true);
    const built = kustomized('overlays/istio-crds').map((o) => `${o.doc.kind}/${o.doc.metadata.name}`);
    for (const o of kustomized('base')) assert.ok(built.includes(`${o.doc.kind}/${o.doc.metadata.name}`));
    assert.ok(built.includes('ClusterRole/nodemesh-agent-istio'));
  });

  it('the uninstall is self-contained, in a namespace of its own (nodemesh-system may still be terminating)', () => {
    const [k] = loadDocs('uninstall/kustomization.yaml');
    assert.ok((k?.resources as string[]).every((r) => !r.includes('/')));
    assert.notEqual(k?.namespace, 'nodemesh-system');
    find('uninstall', 'Namespace', k?.namespace as string);
  });
});

describe('flags the binaries accept', () => {
  const nodemeshArgs = (dir: string, kind: string, name: string, container: string): string[] => {
    const pod = find(dir, kind, name).spec.template.spec as Obj;
    const c = [...(pod.initContainers ?? []), ...pod.containers].find((x: Obj) => x.name === container) as Obj;
    assert.ok(c, `${name} has no container ${container}`);
    return c.args as string[];
  };

  it('the agent DaemonSet passes only flags of `nodemesh agent`', () => {
    const args = nodemeshArgs('base', 'DaemonSet', 'nodemesh-agent', 'agent');
    assert.equal(args[0], 'agent');
    const known = flagNames('agent'); // the CLI's one flag table (src/cli/flags.ts)
    const unknown = flagsIn(args).filter((f) => !known.includes(f));
    assert.deepEqual(unknown, [], `flags the agent does not know (src/main.ts): ${unknown.join(', ')}`);
  });

  it('the CA Deployment passes only flags of `nodemesh ca`', () => {
    const args = nodemeshArgs('base', 'Deployment', 'nodemesh-ca', 'ca');
    assert.equal(args[0], 'ca');
    const known = flagTable('ca/main.ts', 'caCommand');
    const unknown = flagsIn(args).filter((f) => !known.includes(f));
    assert.deepEqual(unknown, [], `flags the CA does not know (src/ca/main.ts): ${unknown.join(', ')}`);
  });

  it('the uninstall runs `nodemesh uninstall` with flags it knows', () => {
    const pod = find('uninstall', 'DaemonSet', 'nodemesh-uninstall').spec.template.spec as Obj;
    const script = (pod.initContainers as Obj[]).flatMap((c) => c.command as string[]).join('\n');
    const line = script.split('\n').find((l) => /^\s*nodemesh uninstall\b/.test(l));
    assert.ok(line, 'no `nodemesh uninstall` line');
    const known = flagNames('uninstall');
    for (const f of flagsIn(line.trim().split(/\s+/))) assert.ok(known.includes(f), `uninstall does not know --${f}`);
  });

  it('every value-taking flag has a value (no flag is followed by another flag)', () => {
    for (const { file, doc } of objects) {
      for (const c of (doc.spec?.template?.spec?.containers ?? []) as Obj[]) {
        const args = (c.args ?? []) as string[];
        args.forEach((a, i) => {
          if (a.startsWith('--')) assert.ok(args[i + 1] !== undefined && !String(args[i + 1]).startsWith('--'), `${file}: ${c.name} ${a}`);
        });
      }
    }
  });
});

describe('the agent config in the ConfigMap', () => {
  const cm = find('base', 'ConfigMap', 'nodemesh-config');
  const text = cm.data?.['mesh.yaml'] as string;

  const accepts = async (yaml: string): Promise<{ services: number }> => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodemesh-deploy-test-'));
    try {
      const file = path.join(dir, 'mesh.yaml');
      fs.writeFileSync(file, yaml);
      // Loaded lazily so the structural checks above still report if config/ does not build.
      const { loadConfig } = await import('../../../src/config/load');
      const r = await loadConfig(file);
      if (!r.ok) assert.fail(`rejected: ${JSON.stringify(r.issues, null, 2)}`);
      return { services: r.config.services.length };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };

  it('ships a mesh.yaml the agent accepts, which adds no services (they are discovered)', async () => {
    assert.ok(text, 'ConfigMap nodemesh-config has no mesh.yaml');
    assert.deepEqual(await accepts(text), { services: 0 });
  });

  it('its commented examples are valid once uncommented', async () => {
    const lines = text.split('\n');
    const from = lines.findIndex((l) => /^# Examples/.test(l));
    assert.ok(from >= 0, 'mesh.yaml has no "# Examples" block');
    const examples = lines.slice(from + 1).map((l) => l.replace(/^# ?/, '')).join('\n');
    assert.match(examples, /kind: PeerAuthentication/);
    await accepts(examples);
  });
});
