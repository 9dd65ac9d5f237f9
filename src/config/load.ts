// loadConfig: read → parse → validate every document → cross-check → freeze. All problems are
// collected; a config with any problem is not returned at all, so nothing is ever partially applied.
import { assemble } from './build';
import { deepFreeze } from './freeze';
import { readDocument } from './kinds';
import type { Parsed } from './kinds/types';
import type { ConfigIssue, MeshConfig } from './model';
import { parseDocuments } from './parse';
import { hashSources, readSources, type Sources } from './sources';

export { formatIssues } from './issues';

export type LoadResult =
  | { readonly ok: true; readonly config: MeshConfig; readonly warnings: readonly ConfigIssue[] }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

export async function loadConfig(path: string): Promise<LoadResult> {
  return buildConfig(await readSources(path));
}

/** The pure part of loading: files already read (with any read problems) to a result. */
export function buildConfig(sources: Sources): LoadResult {
  const issues = [...sources.issues];
  const warnings = [...sources.warnings];
  const parsed: Parsed[] = [];
  for (const file of sources.files) {
    for (const doc of parseDocuments(file.path, file.content, issues, warnings)) {
      parsed.push(...readDocument(issues, file.path, doc.index, doc.value));
    }
  }
  const { services, workloads, nodes, peerAuthentications, authorizationPolicies, traffic } = assemble(parsed, issues, warnings);
  if (issues.length > 0) return { ok: false, issues: deepFreeze(inReadingOrder(issues, sources)) };
  const config: MeshConfig = {
    services,
    workloads,
    nodes,
    peerAuthentications,
    authorizationPolicies,
    ...(traffic !== undefined ? { traffic } : {}),
    source: { files: sources.files.map((f) => f.path), hash: hashSources(sources.files) },
  };
  return { ok: true, config: deepFreeze(config), warnings: deepFreeze(warnings) };
}

/** Issues sorted by file, then document (stable), so a report reads top to bottom. */
function inReadingOrder(issues: readonly ConfigIssue[], sources: Sources): ConfigIssue[] {
  const fileOrder = new Map(sources.files.map((f, i) => [f.path, i]));
  const rank = (i: ConfigIssue): number => fileOrder.get(i.file) ?? -1;
  return [...issues].sort((a, b) => rank(a) - rank(b) || a.document - b.document);
}
