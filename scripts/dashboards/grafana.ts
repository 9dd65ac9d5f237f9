// Builders for the Grafana dashboards in deploy/dashboards/: every panel and query goes through the
// `datasource` variable (type datasource, query prometheus), never a `${DS_…}` input, so the JSON works
// when provisioned from a ConfigMap; panels are laid out in rows on Grafana's 24-column grid with ids
// numbered in order. The output is plain JSON (schemaVersion 39, Grafana 10/11).

export const DS = { type: 'prometheus', uid: '${datasource}' } as const;

export interface Target {
  readonly expr: string;
  readonly legend?: string;
}

export type PanelKind = 'timeseries' | 'stat' | 'table' | 'bargauge';

export interface Panel {
  readonly title: string;
  readonly description: string;
  readonly kind: PanelKind;
  /** Grafana unit id: reqps, percentunit, ms, Bps, bytes, s, short, dateTimeAsIso... */
  readonly unit: string;
  readonly targets: readonly Target[];
  /** Width in grid columns (default: 24 / panels in the row, at least 6). */
  readonly w?: number;
  readonly h?: number;
  /** Table columns: refId → header (tables only). */
  readonly columns?: Readonly<Record<string, string>>;
}

export interface Row {
  readonly title: string;
  readonly panels: readonly Panel[];
}

type Json = Record<string, unknown>;

export function datasourceVariable(): Json {
  return { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0, options: [], refresh: 1, regex: '' };
}

interface Choice {
  readonly multi?: boolean;
  readonly includeAll?: boolean;
}

/** A `label_values(selector, label)` variable: values of a label on the series the selector matches. */
export function labelValues(name: string, label: string, selector: string, labelName: string, o: Choice = {}): Json {
  const q = `label_values(${selector}, ${labelName})`;
  return queryVariable(name, label, q, '', o);
}

/** A `query_result(expr)` variable whose values a regex picks out of the result's series. */
export function queryResult(name: string, label: string, expr: string, regex: string, o: Choice = {}): Json {
  return queryVariable(name, label, `query_result(${expr})`, regex, o);
}

function queryVariable(name: string, label: string, query: string, regex: string, o: Choice): Json {
  return {
    name,
    label,
    type: 'query',
    datasource: DS,
    definition: query,
    query,
    regex,
    refresh: 2,
    sort: 1,
    multi: o.multi ?? true,
    includeAll: o.includeAll ?? true,
    allValue: '.*',
    current: o.includeAll ?? true ? { selected: true, text: ['All'], value: ['$__all'] } : {},
    hide: 0,
    options: [],
  };
}

/** A fixed list; the first value is the default. */
export function custom(name: string, label: string, values: readonly string[]): Json {
  const [first] = values;
  return {
    name,
    label,
    type: 'custom',
    query: values.join(','),
    current: { selected: true, text: first, value: first },
    options: values.map((v, i) => ({ selected: i === 0, text: v, value: v })),
    multi: false,
    includeAll: false,
    hide: 0,
  };
}

const REF_IDS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function targetsOf(p: Panel): Json[] {
  return p.targets.map((t, i) => {
    const refId = REF_IDS[i] as string;
    const base: Json = { datasource: DS, refId, expr: t.expr, legendFormat: t.legend ?? '__auto' };
    return p.kind === 'table' ? { ...base, instant: true, range: false, format: 'table' } : { ...base, range: true };
  });
}

function options(p: Panel): Json {
  switch (p.kind) {
    case 'stat':
      return { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area', justifyMode: 'auto', textMode: 'auto', orientation: 'auto' };
    case 'bargauge':
      return { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, displayMode: 'gradient', orientation: 'horizontal', showUnfilled: true };
    case 'table':
      return { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } };
    case 'timeseries':
      return { legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['mean', 'max', 'lastNotNull'] }, tooltip: { mode: 'multi', sort: 'desc' } };
  }
}

function fieldConfig(p: Panel): Json {
  const defaults: Json = { unit: p.unit };
  if (p.kind === 'timeseries') defaults.custom = { drawStyle: 'line', fillOpacity: 10, lineWidth: 1, showPoints: 'never', spanNulls: false };
  if (p.kind === 'bargauge' && p.unit === 'percentunit') Object.assign(defaults, { min: 0, max: 1 });
  if (p.unit === 'percentunit' && p.kind === 'stat') {
    defaults.thresholds = { mode: 'absolute', steps: [{ color: 'red', value: null }, { color: 'yellow', value: 0.95 }, { color: 'green', value: 0.99 }] };
  }
  const overrides = Object.entries(p.columns ?? {}).map(([ref, name]) => ({
    matcher: { id: 'byName', options: `Value #${ref}` },
    properties: [{ id: 'displayName', value: name }],
  }));
  return { defaults, overrides };
}

function panelJson(p: Panel, id: number, gridPos: Json): Json {
  const json: Json = {
    id,
    type: p.kind,
    title: p.title,
    description: p.description,
    datasource: DS,
    gridPos,
    fieldConfig: fieldConfig(p),
    options: options(p),
    targets: targetsOf(p),
  };
  if (p.kind === 'table') json.transformations = [{ id: 'merge', options: {} }, { id: 'organize', options: { excludeByName: { Time: true } } }];
  return json;
}

export interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly variables: readonly Json[];
  readonly rows: readonly Row[];
}

/** The dashboard JSON: rows in order, each panel placed left to right, wrapping at 24 columns. */
export function dashboard(d: DashboardSpec): Json {
  const panels: Json[] = [];
  let id = 1;
  let y = 0;
  for (const row of d.rows) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    let x = 0;
    let rowH = 0;
    const each = Math.max(6, Math.floor(24 / row.panels.length));
    for (const p of row.panels) {
      const w = p.w ?? each;
      const h = p.h ?? (p.kind === 'stat' ? 4 : 8);
      if (x + w > 24) {
        x = 0;
        y += rowH;
        rowH = 0;
      }
      panels.push(panelJson(p, id++, { h, w, x, y }));
      x += w;
      rowH = Math.max(rowH, h);
    }
    y += rowH;
  }
  return {
    uid: d.uid,
    title: d.title,
    description: d.description,
    tags: ['nodemesh'],
    editable: true,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    time: { from: 'now-1h', to: 'now' },
    timezone: 'browser',
    annotations: { list: [] },
    links: [{ type: 'dashboards', tags: ['nodemesh'], asDropdown: true, title: 'nodemesh', includeVars: false, keepTime: true }],
    templating: { list: d.variables },
    panels,
  };
}

/** `rate(metric{selector}[$__rate_interval])`. */
export const rate = (metric: string, selector: string): string => `rate(${metric}{${selector}}[$__rate_interval])`;

/** histogram_quantile over a `_bucket` family, by `by` plus le. */
export function quantile(q: number, metric: string, selector: string, by: readonly string[] = []): string {
  return `histogram_quantile(${q}, sum by (${[...by, 'le'].join(', ')}) (${rate(`${metric}_bucket`, selector)}))`;
}

/** Non-5xx share of istio_requests_total, by `by`. */
export function successRate(selector: string, by: readonly string[] = []): string {
  const b = by.length > 0 ? ` by (${by.join(', ')})` : '';
  return `sum${b} (${rate('istio_requests_total', `${selector},response_code!~"5.."`)}) / sum${b} (${rate('istio_requests_total', selector)})`;
}

export function sumBy(by: readonly string[], inner: string): string {
  return by.length > 0 ? `sum by (${by.join(', ')}) (${inner})` : `sum(${inner})`;
}
