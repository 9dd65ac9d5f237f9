// Shared by the deploy/ tests: reading the manifests and kustomizations, validating objects with
// libraries that ship Kubernetes' own schemas, and reading the CLI's flag tables from the sources.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dumpYaml, loadYaml } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';

// Manifests are untyped YAML: tests walk them through this loose view and assert on what they find.
export type Obj = Record<string, any>;

// The compiled test may live in any outDir: find the checkout by walking up, falling back to the cwd.
function repoRoot(): string {
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'deploy/base/kustomization.yaml'))) return d;
  }
  return process.cwd();
}
export const ROOT = repoRoot();
export const DEPLOY = path.join(ROOT, 'deploy');

/** Every document of a YAML file (path relative to deploy/), empty ones dropped. */
export function loadDocs(rel: string): Obj[] {
  const docs = parseAllDocuments(fs.readFileSync(path.join(DEPLOY, rel), 'utf8'));
  return docs
    .map((d, i) => {
      assert.deepEqual(d.errors, [], `${rel} document ${i} does not parse`);
      return d.toJS() as Obj;
    })
    .filter((d) => d !== null && d !== undefined);
}

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

const isYaml = (f: string): boolean => /\.ya?ml$/.test(f);

/** Every YAML file under deploy/, relative to it, sorted. */
export const yamlFiles: string[] = walk(DEPLOY).filter(isYaml).map((f) => path.relative(DEPLOY, f)).sort();
/** Directories holding a kustomization.yaml, relative to deploy/. */
export const kustomizationDirs: string[] = yamlFiles.filter((f) => path.basename(f) === 'kustomization.yaml').map((f) => path.dirname(f));
/** The Kubernetes objects: every document of every YAML file but the kustomizations. */
export const objects: { file: string; doc: Obj }[] = yamlFiles
  .filter((f) => path.basename(f) !== 'kustomization.yaml')
  .flatMap((file) => loadDocs(file).map((doc) => ({ file, doc })));

/** The one object of that kind and name in the files under deploy/DIR. */
export function find(dir: string, kind: string, name: string): Obj {
  const hits = objects.filter(({ file, doc }) => file.startsWith(`${dir}/`) && doc.kind === kind && doc.metadata?.name === name);
  assert.equal(hits.length, 1, `expected one ${kind} ${name} under deploy/${dir}, found ${hits.length}`);
  return (hits[0] as { doc: Obj }).doc;
}

/** Objects a kustomization builds, following directory resources (e.g. ../../base) before its own files. */
export function kustomized(dir: string): { file: string; doc: Obj }[] {
  const [k] = loadDocs(path.join(dir, 'kustomization.yaml'));
  return ((k?.resources ?? []) as string[]).flatMap((r) => {
    const rel = path.normalize(path.join(dir, r));
    if (fs.existsSync(path.join(DEPLOY, rel, 'kustomization.yaml'))) return kustomized(rel);
    return objects.filter((o) => o.file === rel);
  });
}

type Validatable = { validate(): void };
const models = new Map<string, new (data: Obj) => Validatable>();

/**
 * Validates one object against Kubernetes' OpenAPI schema with the kubernetes-models validator for its
 * apiVersion and kind (types, required fields, enums). The package is ESM-only with an `import`-only
 * exports map, so its files are required by path (require of ESM works on Node 24).
 */
export function schemaProblem(doc: Obj): string | undefined {
  const key = `${doc.apiVersion}/${doc.kind}`;
  let Model = models.get(key);
  if (!Model) {
    const file = path.join(ROOT, 'node_modules/kubernetes-models', String(doc.apiVersion), `${String(doc.kind)}.js`);
    if (!fs.existsSync(file)) return `no Kubernetes schema for ${key}`;
    const mod = require(file) as Record<string, new (data: Obj) => Validatable>;
    Model = mod[String(doc.kind)];
    if (!Model) return `kubernetes-models/${key} exports no ${String(doc.kind)}`;
    models.set(key, Model);
  }
  try {
    new Model(doc).validate();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Fields the API would refuse as unknown (kubectl applies with strict field validation). Kubernetes'
 * schemas allow extra properties, so the validator above cannot see them; the official client's typed
 * models can: a round trip through them keeps exactly the fields the API defines.
 */
export function unknownFields(doc: Obj): string[] {
  const back = loadYaml(dumpYaml(loadYaml(stringify(doc)))) as unknown;
  const plain = JSON.parse(JSON.stringify(back)) as unknown;
  const lost: string[] = [];
  const diff = (a: unknown, b: unknown, at: string): void => {
    if (a !== null && typeof a === 'object') {
      for (const [k, v] of Object.entries(a as Obj)) {
        const there = b !== null && typeof b === 'object' ? (b as Obj)[k] : undefined;
        if (there === undefined && v !== undefined) lost.push(`${at}.${k}`);
        else diff(v, there, `${at}.${k}`);
      }
    }
  };
  diff(doc, plain, '');
  return lost;
}

/** The `--flag` names in a container's args (or a shell line), without the dashes. */
export function flagsIn(args: readonly unknown[]): string[] {
  return args.flatMap((a) => (typeof a === 'string' && /^--[a-z][a-z0-9-]*$/.test(a) ? [a.slice(2)] : []));
}

/**
 * The flags a command accepts, read from its source: the `onlyFlags(args, ...)` call in function FN
 * of FILE (under src/), given as an array literal or as the name of a constant array declared anywhere
 * in src/. A flag the command does not list is a usage error at start, so this is the table that counts.
 */
export function flagTable(file: string, fn: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, 'src', file), 'utf8');
  const start = text.search(new RegExp(`function ${fn}\\s*\\(`));
  assert.ok(start >= 0, `src/${file} has no function ${fn}`);
  const call = /onlyFlags\(\s*\w+\s*,\s*(\[[^\]]*\]|[A-Za-z_$][\w$.]*)/.exec(text.slice(start));
  assert.ok(call?.[1], `function ${fn} in src/${file} calls no onlyFlags`);
  const arg = call[1];
  if (arg.startsWith('[')) return quoted(arg);
  const name = arg.split('.').pop() as string;
  for (const f of walk(path.join(ROOT, 'src')).filter((p) => p.endsWith('.ts'))) {
    const m = new RegExp(`\\b${name}\\b[^=\\n]*=\\s*(\\[[^\\]]*\\])`).exec(fs.readFileSync(f, 'utf8'));
    if (m?.[1]) return quoted(m[1]);
  }
  assert.fail(`no array ${name} in src/ (flags of ${fn})`);
}

function quoted(list: string): string[] {
  return [...list.matchAll(/'([^']*)'|"([^"]*)"/g)].map((m) => (m[1] ?? m[2]) as string);
}

/** The image every nodemesh container must use: the package version is the tag. */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
