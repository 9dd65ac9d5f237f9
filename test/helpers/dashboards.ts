// Grafana dashboard JSON as the tests read it: every panel query (rows' nested panels included), the
// template variables, and the substitution Grafana does before a query reaches Prometheus.
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Json = Record<string, any>;

export interface PanelQuery {
  readonly panelId: number;
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
  /** The panel's datasource and the target's, as written. */
  readonly datasources: readonly unknown[];
}

export interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query: string;
  readonly regex: string;
  readonly json: Json;
}

/** Panels in order, the panels of collapsed rows included. */
export function panelsOf(d: Json): Json[] {
  return ((d.panels ?? []) as Json[]).flatMap((p) => [p, ...((p.panels ?? []) as Json[])]);
}

export function queriesOf(d: Json): PanelQuery[] {
  return panelsOf(d).flatMap((p) =>
    ((p.targets ?? []) as Json[])
      .filter((t) => typeof t.expr === 'string' && t.expr.trim() !== '')
      .map((t) => ({ panelId: p.id as number, panel: String(p.title ?? ''), refId: String(t.refId ?? 'A'), expr: t.expr as string, datasources: [p.datasource, t.datasource] })),
  );
}

export function variablesOf(d: Json): Variable[] {
  return ((d.templating?.list ?? []) as Json[]).map((v) => ({
    name: String(v.name),
    type: String(v.type),
    query: typeof v.query === 'string' ? v.query : String(v.query?.query ?? ''),
    regex: String(v.regex ?? ''),
    json: v,
  }));
}

/**
 * Grafana's substitution: $__rate_interval (and $__interval, $__range) by the given window, then each
 * variable in its $x, ${x}, ${x:regex} and [[x]] forms. Longest names first, so $service does not eat
 * $serviceX.
 */
export function substitute(expr: string, vars: Readonly<Record<string, string>>, window = '30s'): string {
  let out = expr.replace(/\$__rate_interval|\$\{__rate_interval\}|\$__interval|\$\{__interval\}|\$__range/g, window);
  for (const name of Object.keys(vars).sort((a, b) => b.length - a.length)) {
    const v = vars[name] as string;
    out = out.replace(new RegExp(`\\$\\{${name}(?::[a-z]+)?\\}|\\[\\[${name}\\]\\]|\\$${name}(?![A-Za-z0-9_])`, 'g'), () => v);
  }
  return out;
}

/** `label_values(selector, label)` or `query_result(expr)`, split; undefined for other queries. */
export function parseVariableQuery(q: string): { kind: 'label_values'; selector: string; label: string } | { kind: 'query_result'; expr: string } | undefined {
  const lv = /^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s.exec(q);
  if (lv) return { kind: 'label_values', selector: lv[1] as string, label: lv[2] as string };
  const qr = /^\s*query_result\(\s*(.*)\)\s*$/s.exec(q);
  if (qr) return { kind: 'query_result', expr: qr[1] as string };
  return undefined;
}

/** The checkout, found from any outDir. */
export function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'deploy/base/kustomization.yaml'))) return d;
  }
  return process.cwd();
}

export const DASHBOARD_DIR = path.join(repoRoot(), 'deploy/dashboards');
export const ISTIO_DASHBOARD_DIR = path.join(repoRoot(), 'test/fixtures/istio-dashboards');

/** file name → parsed JSON of every dashboard in a directory. */
export function readDashboards(dir: string): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) out.set(f, JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Json);
  return out;
}
