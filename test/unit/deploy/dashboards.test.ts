// The Grafana dashboards under deploy/dashboards/: they are what scripts/dashboards/ generates, select
// their datasource through the `datasource` variable (never a `${DS_…}` input, which file provisioning
// cannot fill), have unique panel ids, use $__rate_interval, and query only metric names the agent
// registers. The kustomization ships every one of them as a ConfigMap Grafana's sidecar picks up.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { parseAllDocuments } from 'yaml';
import { DASHBOARDS, render } from '../../../scripts/dashboards/build';
import { DiscoveryMetrics } from '../../../src/discovery/metrics';
import { collectNodeFacts, factsFrom, registerProcessMetrics } from '../../../src/telemetry/agentinfo';
import { Metrics } from '../../../src/telemetry/metrics';
import { NodeMetrics } from '../../../src/telemetry/node';
import { securityMetrics } from '../../../src/telemetry/security';
import { tunnelMetrics } from '../../../src/tunnel/metrics';
import { DASHBOARD_DIR, panelsOf, parseVariableQuery, queriesOf, readDashboards, repoRoot, variablesOf, type Json } from '../../helpers/dashboards';
import { metricNames } from '../../helpers/promql';

const ROOT = repoRoot();
const dashboards = readDashboards(DASHBOARD_DIR);

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/**
 * Every series name the agent can export: the registry the agent builds (the families that need no
 * running module), plus the names the other modules register, read from their metric definitions.
 */
async function agentMetricNames(): Promise<{ names: Set<string>; built: Set<string> }> {
  const r = new Registry();
  new Metrics({ registry: r });
  new NodeMetrics(r, { datapath: () => undefined, serviceById: () => undefined });
  new DiscoveryMetrics(r);
  tunnelMetrics(r);
  securityMetrics(r);
  registerProcessMetrics(r, '0.0.0-test');
  await collectNodeFacts(r, async () => factsFrom({ platform: 'linux' }, { cores: 2 }, { total: 1 }));
  const built = new Set<string>();
  for (const m of await r.getMetricsAsJSON()) {
    built.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) built.add(m.name + s);
  }
  const names = new Set(built);
  const def = /(?:name:\s*|const name = |new Series(?:Counter|Histogram)\(|(?:counter|gauge)\(registry,\s*)'((?:nodemesh|istio)_[a-z0-9_]+)'/g;
  for (const f of walk(path.join(ROOT, 'src')).filter((x) => x.endsWith('.ts'))) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(def)) names.add(m[1] as string);
  }
  return { names, built };
}

describe('deploy/dashboards', () => {
  it('holds exactly the dashboards scripts/dashboards/ generates, byte for byte (node dist/scripts/dashboards/build.js)', () => {
    assert.deepEqual([...dashboards.keys()], Object.keys(DASHBOARDS).sort());
    for (const [file, d] of Object.entries(DASHBOARDS)) {
      assert.equal(fs.readFileSync(path.join(DASHBOARD_DIR, file), 'utf8'), render(d), `${file} differs from its definition: regenerate it`);
    }
  });

  for (const [file, d] of dashboards) {
    describe(file, () => {
      const text = fs.readFileSync(path.join(DASHBOARD_DIR, file), 'utf8');

      it('selects the datasource through a `datasource` variable, never a ${DS_…} input', () => {
        assert.ok(!text.includes('${DS_'), 'no ${DS_…} reference');
        assert.equal(d.__inputs, undefined);
        const ds = variablesOf(d).filter((v) => v.type === 'datasource');
        assert.deepEqual(ds.map((v) => [v.name, v.query]), [['datasource', 'prometheus']]);
        for (const p of panelsOf(d).filter((x) => x.type !== 'row')) assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel ${p.id}`);
        for (const q of queriesOf(d)) assert.deepEqual(q.datasources[1], { type: 'prometheus', uid: '${datasource}' }, `panel ${q.panelId} ${q.refId}`);
        for (const v of variablesOf(d).filter((x) => x.type === 'query')) assert.deepEqual(v.json.datasource, { type: 'prometheus', uid: '${datasource}' }, `variable ${v.name}`);
      });

      it('has a uid, unique panel ids and a query in every panel', () => {
        assert.match(String(d.uid), /^nodemesh-[a-z]+$/);
        const ids = panelsOf(d).map((p) => p.id as number);
        assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.join(',')}`);
        assert.ok(ids.every((id) => Number.isInteger(id) && id > 0));
        for (const p of panelsOf(d).filter((x) => x.type !== 'row')) assert.ok(queriesOf({ panels: [p] }).length > 0, `panel ${p.id} "${p.title}" has no query`);
      });

      it('windows every rate and increase with $__rate_interval', () => {
        for (const q of queriesOf(d)) {
          const windows = [...q.expr.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]);
          assert.ok(windows.every((w) => w === '$__rate_interval'), `panel ${q.panelId} ${q.refId}: ${windows.join(', ')}`);
        }
      });

      it('filters by service, workload or namespace through label_values / query_result variables', () => {
        const byName = new Map(variablesOf(d).map((v) => [v.name, v]));
        for (const name of ['namespace', 'service', 'workload', 'instance']) {
          const v = byName.get(name);
          if (v === undefined) continue;
          assert.ok(parseVariableQuery(v.query), `${name}: ${v.query}`);
          assert.ok(queriesOf(d).some((q) => q.expr.includes(`$${name}`)), `$${name} is used`);
        }
      });
    });
  }

  it('queries only metric names the agent exports (panels and variables)', async () => {
    const { names, built } = await agentMetricNames();
    for (const must of ['istio_requests_total', 'istio_request_duration_milliseconds_bucket', 'nodemesh_cert_expiry_timestamp_seconds', 'nodemesh_health_checks_total', 'process_cpu_seconds_total', 'nodejs_gc_duration_seconds_sum', 'nodemesh_node_info', 'istio_build']) {
      assert.ok(names.has(must), `${must} is known`);
    }
    assert.ok(built.size > 40, 'the registry was built');
    const unknown: string[] = [];
    for (const [file, d] of dashboards) {
      const exprs = [...queriesOf(d).map((q) => [`panel ${q.panelId}`, q.expr]), ...variablesOf(d).filter((v) => v.type === 'query').map((v) => [`variable ${v.name}`, v.query])];
      for (const [where, expr] of exprs) {
        const parsed = parseVariableQuery(expr as string);
        const inner = parsed === undefined ? (expr as string) : parsed.kind === 'label_values' ? parsed.selector : parsed.expr;
        for (const n of metricNames(inner)) if (!names.has(n)) unknown.push(`${file} ${where}: ${n}`);
      }
    }
    assert.deepEqual(unknown, []);
  });

  it('stays far below the size kubectl apply can annotate (262144 bytes per object)', () => {
    for (const f of dashboards.keys()) assert.ok(fs.statSync(path.join(DASHBOARD_DIR, f)).size < 200_000, f);
  });
});

describe('deploy/dashboards/kustomization.yaml', () => {
  const load = (rel: string): Json => parseAllDocuments(fs.readFileSync(path.join(ROOT, rel), 'utf8'))[0]!.toJS() as Json;
  const k = load('deploy/dashboards/kustomization.yaml');
  const generators = (k.configMapGenerator ?? []) as Json[];

  it('turns every dashboard file into a ConfigMap labelled grafana_dashboard: "1", with a stable name', () => {
    const listed = generators.flatMap((g) => g.files as string[]);
    assert.deepEqual([...listed].sort(), [...dashboards.keys()]);
    for (const g of generators) {
      assert.match(String(g.name), /^nodemesh-dashboard-[a-z]+$/);
      assert.equal(g.files.length, 1, `${g.name}: one dashboard per ConfigMap`);
      assert.deepEqual(g.options?.labels, { grafana_dashboard: '1' }, `${g.name}: the sidecar's label, a string`);
    }
    assert.equal(new Set(generators.map((g) => g.name)).size, generators.length);
    assert.equal(k.generatorOptions?.disableNameSuffixHash, true);
    assert.equal(k.namespace, 'nodemesh-system');
  });

  it('is part of the base', () => {
    assert.ok((load('deploy/base/kustomization.yaml').resources as string[]).includes('../dashboards'));
  });

  // kustomize is not in every CI image; where kubectl is, the real build must agree.
  const kubectl = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => fs.existsSync(p));
  it('builds with kubectl kustomize: one labelled ConfigMap per dashboard in the base', { skip: kubectl ? false : 'no kubectl here' }, () => {
    const out = execFileSync(kubectl!, ['kustomize', path.join(ROOT, 'deploy/base')], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const cms = parseAllDocuments(out).map((x) => x.toJS() as Json).filter((o) => o?.kind === 'ConfigMap' && o.metadata?.labels?.grafana_dashboard === '1');
    assert.deepEqual(cms.flatMap((c) => Object.keys(c.data)).sort(), [...dashboards.keys()]);
    for (const c of cms) {
      assert.equal(c.metadata.namespace, 'nodemesh-system');
      const [file, json] = Object.entries(c.data as Record<string, string>)[0]!;
      assert.equal(json, fs.readFileSync(path.join(DASHBOARD_DIR, file), 'utf8'));
    }
  });
});

describe('metricNames (the PromQL tokenizer the checks use)', () => {
  const table: [string, string[]][] = [
    ['sum(rate(istio_requests_total{reporter="source",response_code!~"5.."}[$__rate_interval]))', ['istio_requests_total']],
    ['histogram_quantile(0.99, sum by (destination_service, le) (rate(istio_request_duration_milliseconds_bucket{a="b"}[5m])))', ['istio_request_duration_milliseconds_bucket']],
    ['sum(x_total) by (le) / on(instance) group_left(node) y_info', ['x_total', 'y_info']],
    ['time() - min(nodemesh_config_last_reload_success_timestamp_seconds{instance=~"$instance"})', ['nodemesh_config_last_reload_success_timestamp_seconds']],
    ['topk(10, a + b) or vector(0) and bool c offset 5m', ['a', 'b', 'c']],
    ['label_join(sum by (w) (m), "dst", ".", "w", "n")', ['m']],
    ['{__name__=~"istio_requests_total|istio_tcp_connections_opened_total",ns=~"$namespace"}', ['istio_requests_total', 'istio_tcp_connections_opened_total']],
    ['max by (map) (nodemesh_map_entries{i="[[instance]]"} / nodemesh_map_capacity)', ['nodemesh_map_entries', 'nodemesh_map_capacity']],
    ['sum without (instance) (rate(m_total[1m:10s])) > 1e3', ['m_total']],
  ];
  for (const [expr, want] of table) it(expr, () => assert.deepEqual(metricNames(expr), want));
});
