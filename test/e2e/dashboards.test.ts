// Every dashboard query against a real Prometheus: Debian's prometheus scrapes both agents of a two-node
// mesh (Kubernetes discovery) every second during a bounded traffic run — HTTP 200s and 5xx, TCP,
// same-node and cross-node, kernel mode — and then every panel query of every dashboard in
// deploy/dashboards/ must parse and return data, except the failure-only ones listed below. Istio's own
// mesh, service and workload dashboards (test/fixtures/istio-dashboards) are evaluated the same way with
// their default variables; the panels that cannot show data on nodemesh are listed with the reason.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Cluster } from '../helpers/cluster';
import { DASHBOARD_DIR, ISTIO_DASHBOARD_DIR, panelsOf, parseVariableQuery, queriesOf, readDashboards, substitute, variablesOf, type Json } from '../helpers/dashboards';
import { rootSkipReason } from '../helpers/sysenv';
import { CONFIG, LOAD, loads, objects, SERVER, servers, VIP, WEB_HOST } from './dashboards-mesh';
import { NODE, sleep } from './harness';
import { KubeNet } from './kubenet';
import { Prometheus, PROMETHEUS, type PromAnswer, type PromAsk } from './prometheus';

/** Queries of our dashboards that only show failures (file#panelId+refId → why nothing happened here). */
const FAILURE_ONLY: Readonly<Record<string, string>> = {
  'nodemesh-service.json#20B': 'connectionPool overflow (503 UO): the run sets no connectionPool limit',
  'nodemesh-agent.json#13B': 'config reads failing with an I/O error',
  'nodemesh-agent.json#16C': 'Istio objects rejected as invalid by discovery',
  'nodemesh-agent.json#16D': 'Kubernetes objects skipped as unusable by discovery',
  'nodemesh-agent.json#19B': 'failed certificate requests',
  'nodemesh-agent.json#21B': 'tunnel streams the client pool could not open',
};

/**
 * Istio dashboard panels that show data only once the agent reports reporter="destination" for every
 * request it delivers to a local pod (same-node traffic included) and the source workload labels on the
 * destination side (their default view is reporter="destination"; the workload dashboard's "TCP Client
 * Traffic", #85, also needs source_workload on destination-reported series). Empty: the agent does both.
 */
const NEEDS_DESTINATION_REPORTER: Readonly<Record<string, string>> = {};

/** Istio dashboard panels that cannot show data here (file#panelId → why). */
const ISTIO_CANNOT: Readonly<Record<string, string>> = {
  'istio-service-dashboard.json#84': 'TCP bytes of an HTTP service: nodemesh counts HTTP traffic as requests, as a sidecar does (ztunnel, L4 only, counts it as TCP); the panel shows data for a TCP service',
  'istio-service-dashboard.json#100': 'the same, sent bytes',
  'istio-service-dashboard.json#80': 'the same, by client workload',
  'istio-service-dashboard.json#82': 'the same, by client workload',
  'istio-service-dashboard.json#92': 'the same, by service workload',
  'istio-service-dashboard.json#93': 'the same, by service workload',
};

const RUN_MS = 32_000;
const SETTLE_MS = 16_000;

const skip = rootSkipReason() ?? (fs.existsSync(PROMETHEUS) ? undefined : `no ${PROMETHEUS} (scripts/bootstrap.sh installs Debian's prometheus)`);

interface Evaluated {
  key: string;
  panelKey: string;
  panel: string;
  expr: string;
  answer: PromAnswer;
}

/** Our dashboards' variables: the service/workload/namespace/instance filters on All, the rest at their default. */
function ourVariables(d: Json): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const v of variablesOf(d)) {
    if (v.type === 'query') vars[v.name] = '.*';
    else if (v.type === 'custom') vars[v.name] = String(v.json.current?.value ?? '');
  }
  return vars;
}

/** Istio's defaults, as Grafana resolves them here: All for the multi-value filters, the saved reporter. */
const ISTIO_VARIABLES: Readonly<Record<string, Record<string, string>>> = {
  // service: the saved default (details.default...) does not exist here, so Grafana takes a listed one.
  'istio-service-dashboard.json': { service: WEB_HOST, qrep: 'destination', srccluster: '.*', srcns: '.*', srcwl: '.*', dstcluster: '.*', dstns: '.*', dstwl: '.*' },
  // namespace and workload have no saved default: the client workload, which serves and calls.
  'istio-workload-dashboard.json': { namespace: 'front', workload: 'client', qrep: 'destination', srcns: '.*', srcwl: '.*', dstsvc: '.*' },
  'istio-mesh-dashboard.json': {},
};

/** Every panel query of a dashboard, with Grafana's substitution done. */
function panelAsks(file: string, d: Json, vars: Record<string, string>): Omit<Evaluated, 'answer'>[] {
  return queriesOf(d).map((q) => ({ key: `${file}#${q.panelId}${q.refId}`, panelKey: `${file}#${q.panelId}`, panel: `${q.panelId} "${q.panel}" ${q.refId}`, expr: substitute(q.expr, vars) }));
}

/** label_values and query_result variables, as Grafana asks for their values. */
function variableAsks(file: string, d: Json, vars: Record<string, string>): [string, PromAsk][] {
  const asks: [string, PromAsk][] = [];
  for (const v of variablesOf(d).filter((x) => x.type === 'query')) {
    const q = parseVariableQuery(v.query);
    const name = `${file} $${v.name}`;
    if (q?.kind === 'label_values') asks.push([name, { label: q.label, match: substitute(q.selector, vars) }]);
    else if (q?.kind === 'query_result') asks.push([name, { query: substitute(q.expr, vars) }]);
    else if (/^label_values\(\s*([a-z_]+)\s*\)$/.test(v.query)) asks.push([name, { label: /\(\s*([a-z_]+)/.exec(v.query)![1]! }]);
  }
  return asks;
}

/** What the run looked like to Prometheus, for the log: scrape health and who reports what. */
const META: readonly [string, string][] = [
  ['scrapes up (min over the run)', 'min by (instance) (min_over_time(up[40s]))'],
  ['slowest scrape (s)', 'max by (instance) (max_over_time(scrape_duration_seconds[40s]))'],
  ['destination-reported requests', 'sum by (destination_service, destination_workload, source_workload, connection_security_policy) (istio_requests_total{reporter="destination"})'],
];

const shows = (a: PromAnswer): boolean => a.ok && a.finite > 0;
const line = (e: Evaluated): string => `${e.key} ${e.panel}: ${e.answer.ok ? `${e.answer.series} series, ${e.answer.finite} finite` : `ERROR ${e.answer.error}`}\n    ${e.expr}`;

describe('dashboards on a real Prometheus', { skip: skip && process.env.CI !== 'true' ? skip : false, timeout: 110_000 }, () => {
  let k: KubeNet;
  let c: Cluster;
  let prom: Prometheus;
  let run: Promise<{ statuses: Record<string, Record<string, number>>; tcp: Record<string, { ok: number; failed: number }> }[]>;
  const ours = readDashboards(DASHBOARD_DIR);
  const istio = readDashboards(ISTIO_DASHBOARD_DIR);

  before(async () => {
    if (skip) throw new Error(`root test cannot run on CI: ${skip}`);
    k = await KubeNet.start({ nodes: 2, podsPerNode: 3, objects: (cl) => ((c = cl), objects(cl)), config: CONFIG, agentArgs: ['--cert-ttl', '8s'] });
    for (const { pod, http, tcp } of servers(c)) {
      const s = c.spawn(pod, NODE, [SERVER(), http, tcp, pod.name]);
      await new Promise<void>((r) => s.stdout?.once('data', () => r()));
    }
    prom = await Prometheus.start(c, c.nodes[0]!, c.nodes.map((n) => `${n.ip}:15020`));
  });
  after(async () => {
    await prom?.stop();
    await k?.close();
  });

  let evaluated: Map<string, Evaluated[]>;
  let variables: Map<string, PromAnswer>;

  test('a bounded traffic run reaches Prometheus from both agents, both reporters', async (t) => {
    const started = Date.now();
    run = Promise.all(
      loads(c, RUN_MS).map(async ({ pod, spec }) => {
        const r = await c.exec(pod, NODE, [LOAD(), JSON.stringify(spec)], { timeoutMs: RUN_MS + 20_000 });
        return JSON.parse(r.stdout || '{}') as Awaited<typeof run>[number];
      }),
    );
    await sleep(SETTLE_MS - (Date.now() - started));
    // Everything is asked at once, while the load still runs (irate and [1m] windows need fresh samples).
    const panels = [
      ...[...ours].map(([f, d]) => panelAsks(f, d, ourVariables(d))),
      ...[...istio].map(([f, d]) => panelAsks(f, d, ISTIO_VARIABLES[f] ?? {})),
    ].flat();
    const vars = [...[...ours].flatMap(([f, d]) => variableAsks(f, d, ourVariables(d))), ...[...istio].flatMap(([f, d]) => variableAsks(f, d, ISTIO_VARIABLES[f] ?? {}))];
    const checks: PromAsk[] = [
      { query: 'sum by (instance) (istio_requests_total{reporter="source"})' },
      { query: 'sum(istio_requests_total{reporter="destination"})' },
      { query: 'sum(nodemesh_kernel_connections_opened_total{dataplane="kernel"})' },
    ];
    // At a moment when both targets' last scrape succeeded: a scrape that timed out (a loaded machine)
    // marks the target's series stale, and instant queries would see nothing until the next one.
    const time = await prom.freshTime();
    const q = (query: string): PromAsk => ({ query, time });
    const answers = await prom.ask([...checks.map((a) => q((a as { query: string }).query)), ...META.map(([, m]) => q(m)), ...panels.map((p) => q(p.expr)), ...vars.map(([, a]) => ('query' in a ? q(a.query) : a))]);
    t.diagnostic(`${answers.length} queries answered ${Date.now() - started} ms into the run`);
    const [src, dst, kernel] = answers;
    META.forEach(([what], i) => t.diagnostic(`${what}: ${JSON.stringify(answers[checks.length + i]!.values)}`));
    const panelAnswers = answers.slice(checks.length + META.length, checks.length + META.length + panels.length);
    evaluated = new Map();
    panels.forEach((p, i) => {
      const file = p.key.split('#')[0]!;
      evaluated.set(file, [...(evaluated.get(file) ?? []), { ...p, answer: panelAnswers[i]! }]);
    });
    const varAnswers = answers.slice(checks.length + META.length + panels.length);
    variables = new Map(vars.map(([n], i) => [n, varAnswers[i]!]));
    assert.equal(src!.series, 2, 'both agents report requests');
    assert.ok(shows(dst!) && Number(dst!.values[0]!.value) > 0, 'cross-node requests are reported by the destination agent');
    assert.ok(shows(kernel!) && Number(kernel!.values[0]!.value) > 0, 'kernel-mode connections are counted');
  });

  test('every panel query of every nodemesh dashboard parses and returns data, except the failure-only ones', (t) => {
    const missing: string[] = [];
    const unexpected: string[] = [];
    let total = 0;
    for (const file of ours.keys()) {
      for (const e of evaluated.get(file) ?? []) {
        total++;
        assert.ok(e.answer.ok, `does not parse or evaluate: ${line(e)}`);
        if (e.key in FAILURE_ONLY) {
          if (shows(e.answer)) unexpected.push(e.key);
        } else if (!shows(e.answer)) missing.push(line(e));
      }
    }
    t.diagnostic(`${total} queries in ${ours.size} dashboards; ${Object.keys(FAILURE_ONLY).length} failure-only${unexpected.length ? ` (with data this time: ${unexpected.join(', ')})` : ''}`);
    for (const key of Object.keys(FAILURE_ONLY)) assert.ok([...ours.keys()].some((f) => key.startsWith(`${f}#`)), `${key} names a dashboard we ship`);
    assert.deepEqual(missing, []);
  });

  test('the variables of our dashboards list values (and those of Istio\'s parse)', (t) => {
    const empty = [...variables].filter(([n, a]) => n.startsWith('nodemesh-') && !(a.ok && a.series > 0)).map(([n, a]) => `${n}: ${a.error ?? 'no values'}`);
    assert.deepEqual(empty, []);
    for (const [n, a] of variables) if (n.startsWith('istio-')) assert.ok(a.ok, `${n}: ${a.error}`);
    t.diagnostic(`Istio variables without values: ${[...variables].filter(([n, a]) => n.startsWith('istio-') && a.series === 0).map(([n]) => n).join(', ') || 'none'}`);
  });

  test("Istio's mesh, service and workload dashboards show data with their default variables, except the panels listed", (t) => evaluateIstio(t));

  test('the traffic run saw what it was meant to: 200s, 503s, fault aborts, connect failures, 429s, TCP echoes', async (t) => {
    const [client, caller] = await run;
    t.diagnostic(JSON.stringify({ client, caller }));
    const st = client!.statuses;
    const at = (part: string): Record<string, number> => Object.entries(st).find(([u]) => u.includes(part))?.[1] ?? {};
    assert.ok((at('/ok')['200'] ?? 0) > 10);
    assert.ok((at('/status/503')['503'] ?? 0) > 10);
    assert.ok((at('/chaos')['503'] ?? 0) > 10);
    assert.ok((at(`${VIP.down}/`)['503'] ?? 0) > 10, 'down answers 503');
    assert.ok((at(`${VIP.limited}/`)['429'] ?? 0) > 0, 'limited answers 429 sometimes');
    for (const [a, r] of Object.entries(client!.tcp)) {
      if (a.startsWith(VIP.gone)) assert.ok(r.failed > 10 && r.ok === 0, `nothing listens behind gone: ${JSON.stringify(r)}`);
      else assert.ok(r.ok > 10, `TCP ${a}: ${JSON.stringify(r)}`);
    }
    assert.ok((caller!.tcp[`${VIP.frontEcho}:9000`]?.ok ?? 0) > 10, 'TCP across nodes');
    assert.ok(Object.values(caller!.statuses).every((s) => (s['200'] ?? 0) > 10), JSON.stringify(caller));
  });

  function evaluateIstio(t: TestContext): void {
    const empty: string[] = [];
    const wrong: string[] = [];
    for (const [file, d] of istio) {
      const byPanel = new Map<string, Evaluated[]>();
      for (const e of evaluated.get(file) ?? []) {
        assert.ok(e.answer.ok, `does not parse or evaluate: ${line(e)}`);
        byPanel.set(e.panelKey, [...(byPanel.get(e.panelKey) ?? []), e]);
      }
      for (const [key, es] of byPanel) {
        const expected = NEEDS_DESTINATION_REPORTER[key] ?? ISTIO_CANNOT[key];
        const has = es.some((e) => shows(e.answer));
        if (!has && expected === undefined) empty.push(`${key} ${es[0]!.panel}\n  ${es.map((e) => line(e)).join('\n  ')}`);
        if (has && ISTIO_CANNOT[key] !== undefined) wrong.push(`${key} shows data now: remove it from ISTIO_CANNOT`);
        if (has && NEEDS_DESTINATION_REPORTER[key] !== undefined) t.diagnostic(`${key} shows data: it can leave NEEDS_DESTINATION_REPORTER`);
      }
      const panels = panelsOf(d).filter((p) => (p.targets ?? []).length > 0).length;
      t.diagnostic(`${file}: ${panels} panels with queries, ${byPanel.size} evaluated`);
    }
    assert.deepEqual(wrong, []);
    assert.deepEqual(empty, []);
  }
});

