// loadConfig: read → parse → validate every document → cross-check → freeze. All problems are
// collected; a config with any problem is not returned at all, so nothing is ever partially applied.
import { isMeshError } from '../errors';
import { assemble } from './build';
import { deepFreeze } from './freeze';
import { readDocument, type ReadContext } from './kinds';
import { WHOLE_FILE, issue } from './issues';
import type { Parsed } from './kinds/types';
import type { ConfigIssue, MeshConfig } from './model';
import { parseDocuments } from './parse';
import { EMPTY_FILE, hashSources, isBlank, readSources, type Sources } from './sources';

export type { ReadContext } from './kinds';

export { formatIssues } from './issues';

export type LoadResult =
  | { readonly ok: true; readonly config: MeshConfig; readonly warnings: readonly ConfigIssue[] }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

/** Reads and builds once (`nodemesh check`); an I/O error is one more problem of the config here. */
export async function loadConfig(path: string, ctx: ReadContext = {}): Promise<LoadResult> {
  let sources: Sources;
  try {
    sources = await readSources(path);
  } catch (e) {
    if (!isMeshError(e, 'CONFIG_IO')) throw e;
    return { ok: false, issues: [issue(path, WHOLE_FILE, e.message)] };
  }
  return buildConfig(sources, ctx);
}

/** The pure part of loading: files already read (with any read problems) to a result. */
export function buildConfig(sources: Sources, ctx: ReadContext = {}): LoadResult {
  const p = parseSources(sources, ctx);
  return assembleConfig(p.parsed, p.source, p.issues, p.warnings);
}

/** Documents read and validated one by one; the cross-document pass has not run yet. */
export interface ParsedConfig {
  readonly parsed: readonly Parsed[];
  /** Problems of single documents (and of reading): any makes the whole config unusable. */
  readonly issues: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
  readonly source: MeshConfig['source'];
}

/** Files to validated documents, each on its own (Kubernetes discovery joins them with API objects). */
export function parseSources(sources: Sources, ctx: ReadContext = {}): ParsedConfig {
  const issues = [...sources.issues];
  const warnings = [...sources.warnings];
  const parsed: Parsed[] = [];
  for (const file of sources.files) {
    // The watcher waits for such a file to be written; a one-off load reports it.
    if (isBlank(file)) issues.push(issue(file.path, WHOLE_FILE, EMPTY_FILE));
    for (const doc of parseDocuments(file.path, file.content, issues, warnings)) {
      parsed.push(...readDocument(issues, file.path, doc.index, doc.value, ctx, warnings));
    }
  }
  const source = { files: sources.files.map((f) => f.path), hash: hashSources(sources.files) };
  return { parsed, issues: inReadingOrder(issues, source.files), warnings, source };
}

/**
 * The cross-document pass over documents from anywhere (files, API objects), then the frozen config.
 * ISSUES and WARNINGS already found are carried into the result.
 */
export function assembleConfig(
  parsed: readonly Parsed[],
  source: MeshConfig['source'],
  known: readonly ConfigIssue[] = [],
  knownWarnings: readonly ConfigIssue[] = [],
): LoadResult {
  const issues = [...known];
  const warnings = [...knownWarnings];
  const { services, workloads, nodes, peerAuthentications, authorizationPolicies, requestAuthentications, traffic, telemetry } = assemble(parsed, issues, warnings);
  if (issues.length > 0) return { ok: false, issues: deepFreeze(inReadingOrder(issues, source.files)) };
  const config: MeshConfig = {
    services,
    workloads,
    nodes,
    peerAuthentications,
    authorizationPolicies,
    ...(requestAuthentications.length > 0 ? { requestAuthentications } : {}),
    ...(traffic !== undefined ? { traffic } : {}),
    ...(telemetry.length > 0 ? { telemetry } : {}),
    source,
  };
  return { ok: true, config: deepFreeze(config), warnings: deepFreeze(warnings) };
}

/** Issues sorted by file, then document (stable), so a report reads top to bottom. */
function inReadingOrder(issues: readonly ConfigIssue[], files: readonly string[]): ConfigIssue[] {
  const fileOrder = new Map(files.map((f, i) => [f, i]));
  const rank = (i: ConfigIssue): number => fileOrder.get(i.file) ?? files.length;
  return [...issues].sort((a, b) => rank(a) - rank(b) || a.document - b.document);
}
