// docs/istio-fields.md against the readers: for every row (kind, field path, status) a minimal document
// that sets the field is loaded. Supported and accepted fields load; refused fields are refused at that
// field with advice on what to do instead. Every Istio field with a sample in field-samples.ts must have
// a row.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildConfig } from '../../../src/config/load';
import { docs, echoSpec, serviceEntry } from './helpers';
import { makeCa, makeLeaf, writeFiles } from '../../helpers/tls-pki';
import { FIELD_SAMPLES, HOST, type Obj, type Sample } from './field-samples';

interface Row {
  readonly kind: string;
  readonly path: string;
  readonly status: string;
}

const STATUSES = ['supported', 'supported, differs', 'accepted, no effect', 'refused'];

function docPath(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'docs', 'istio-fields.md');
    if (existsSync(candidate)) return candidate;
  }
  return join('docs', 'istio-fields.md');
}

/** Rows of the tables under `## Kind` headings: `| \`path\` | status | notes |`. */
function parseRows(text: string): Row[] {
  const rows: Row[] = [];
  let kind = '';
  for (const line of text.split('\n')) {
    const heading = /^## (\w+)/.exec(line);
    if (heading) kind = heading[1] ?? '';
    const cells = /^\| `([^`]+)` \| ([^|]+?) \|/.exec(line);
    if (cells && kind !== '') rows.push({ kind, path: cells[1] ?? '', status: (cells[2] ?? '').trim() });
  }
  return rows;
}

const API: Readonly<Record<string, string>> = {
  ServiceEntry: 'networking.istio.io/v1',
  WorkloadEntry: 'networking.istio.io/v1',
  VirtualService: 'networking.istio.io/v1',
  DestinationRule: 'networking.istio.io/v1',
  PeerAuthentication: 'security.istio.io/v1',
  AuthorizationPolicy: 'security.istio.io/v1',
  RequestAuthentication: 'security.istio.io/v1',
  Telemetry: 'telemetry.istio.io/v1',
};

/** The smallest valid spec of each kind, that a sample is merged into. */
const BASE: Readonly<Record<string, () => Obj>> = {
  ServiceEntry: () => echoSpec(),
  WorkloadEntry: () => ({ address: '127.0.0.3', labels: { app: 'echo' } }),
  VirtualService: () => ({ hosts: [HOST], http: [{ route: [{ destination: { host: HOST } }] }] }),
  DestinationRule: () => ({ host: HOST }),
  PeerAuthentication: () => ({}),
  AuthorizationPolicy: () => ({}),
  RequestAuthentication: () => ({ jwtRules: [{ issuer: 'https://issuer.example', jwksUri: 'https://issuer.example/jwks.json' }] }),
  Telemetry: () => ({}),
};

/** The service a VirtualService or DestinationRule refers to, with subset v1 for route destinations. */
const SERVICE: Obj = serviceEntry(
  'echo',
  echoSpec({
    ports: [
      { number: 80, name: 'http', protocol: 'HTTP', targetPort: 18080 },
      { number: 443, name: 'tls', protocol: 'TLS' },
      { number: 9000, name: 'tcp', protocol: 'TCP' },
    ],
    endpoints: [{ address: '127.0.0.2', labels: { version: 'v1' } }],
  }),
);
const SUBSETS: Obj = { apiVersion: API.DestinationRule, kind: 'DestinationRule', metadata: { name: 'echo-subsets' }, spec: { host: HOST, subsets: [{ name: 'v1', labels: { version: 'v1' } }] } };

/** Merges PATCH into BASE; lists merge item by item, `null` stays (a YAML `key:` with no value). */
function merge(base: unknown, patch: unknown): unknown {
  if (Array.isArray(patch)) {
    const b = Array.isArray(base) ? base : [];
    return patch.map((p, i) => merge(b[i], p)).concat(b.slice(patch.length));
  }
  if (typeof patch === 'object' && patch !== null) {
    const b = typeof base === 'object' && base !== null && !Array.isArray(base) ? (base as Obj) : {};
    const out: Obj = { ...b };
    for (const [k, v] of Object.entries(patch)) out[k] = merge(b[k], v);
    return out;
  }
  return patch;
}

/** `a[].b.c` with VALUE → `{a: [{b: {c: VALUE}}]}`. */
function nest(path: string, value: unknown): unknown {
  return path.split('.').reduceRight<unknown>((inner, part) => {
    const list = part.endsWith('[]');
    const key = list ? part.slice(0, -2) : part;
    return { [key]: list ? [inner] : inner };
  }, value);
}

let files: ReturnType<typeof writeFiles> | undefined;
before(async () => {
  const ca = await makeCa();
  const leaf = await makeLeaf(ca, { dns: ['echo.test'] });
  files = writeFiles({ 'ca.pem': ca.pem, 'cert.pem': leaf.cert, 'key.pem': leaf.key });
});
after(() => files?.cleanup());

function build(row: Row, sample: Sample): { text: string; secrets: boolean } {
  const pem = (name: string): string => files?.path(name) ?? name;
  const s = typeof sample === 'function' ? sample(pem) : sample;
  let spec = merge(BASE[row.kind]?.() ?? {}, nest(row.path, s.value));
  if (s.with) spec = merge(spec, s.with);
  const doc = { apiVersion: API[row.kind], kind: row.kind, metadata: { name: 'probe', ...(s.metadata ?? {}) }, spec };
  const traffic = row.kind === 'VirtualService' || row.kind === 'DestinationRule';
  return { text: docs(...(traffic ? [SERVICE, SUBSETS] : []), ...(s.docs ?? []), doc), secrets: s.secrets ?? false };
}

const doc = readFileSync(docPath(), 'utf8');
const rows = parseRows(doc);

test('docs/istio-fields.md has a table per kind and a known status in every row', () => {
  assert.deepEqual([...new Set(rows.map((r) => r.kind))].sort(), Object.keys(API).sort());
  for (const r of rows) assert.ok(STATUSES.includes(r.status), `${r.kind} ${r.path}: status "${r.status}" is not one of ${STATUSES.join(' / ')}`);
  const listed = new Set(rows.map((r) => `${r.kind} ${r.path}`));
  const missing = Object.keys(FIELD_SAMPLES).filter((k) => !listed.has(k));
  assert.deepEqual(missing, [], 'Istio fields without a row in docs/istio-fields.md');
});

/** Fields whose sample cannot be built in a unit test, with the reason. */
const SKIPPED: Readonly<Record<string, string>> = {};

for (const row of rows) {
  const key = `${row.kind} ${row.path}`;
  test(`${key}: ${row.status}`, { skip: SKIPPED[key] }, () => {
    const sample = FIELD_SAMPLES[key];
    assert.ok(sample !== undefined, `no sample value for ${key} in test/unit/config/field-samples.ts`);
    const { text, secrets } = build(row, sample);
    const r = buildConfig({ files: [{ path: 'mesh.yaml', name: 'mesh.yaml', content: text }], issues: [], warnings: [] }, { secrets });
    const found = r.ok ? [] : r.issues;
    const issues = found.map((i) => `${i.field}: ${i.message}`);
    if (row.status !== 'refused') {
      assert.deepEqual(issues, [], `${key} should load:\n${text}`);
      return;
    }
    assert.ok(issues.length > 0, `${key} should be refused:\n${text}`);
    const last = row.path.split('.').pop()?.replace('[]', '') ?? '';
    const at = found.filter((i) => (i.field ?? '').endsWith(`.${last}`) || (i.field ?? '').includes(`.${last}[`));
    assert.ok(at.length > 0, `${key}: no issue is at the field: ${issues.join('; ')}`);
    for (const i of at) {
      assert.doesNotMatch(i.message, /not supported yet by this nodemesh version$|^unknown field$|\(a config is refused rather than applied without it\)$/, `${key}: the message gives no advice`);
    }
  });
}
