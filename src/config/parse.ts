// YAML/JSON text to plain documents. Syntax errors carry the line and column; an empty document
// (comments only, or a stray `---`) is skipped.
import { parseAllDocuments } from 'yaml';
import { issue } from './issues';
import type { ConfigIssue } from './model';

export interface RawDocument {
  /** 0-based position in the file's document stream. */
  readonly index: number;
  readonly value: unknown;
}

/** Aliases beyond this are refused (a "billion laughs" document would otherwise expand without bound). */
const MAX_ALIASES = 100;

export function parseDocuments(file: string, text: string, issues: ConfigIssue[], warnings: ConfigIssue[]): RawDocument[] {
  const out: RawDocument[] = [];
  parseAllDocuments(text, { uniqueKeys: true }).forEach((doc, index) => {
    for (const w of doc.warnings) warnings.push(issue(file, index, firstLine(w.message)));
    if (doc.errors.length > 0) {
      for (const e of doc.errors) issues.push(issue(file, index, `malformed YAML: ${firstLine(e.message)}`));
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (e) {
      issues.push(issue(file, index, `malformed YAML: ${e instanceof Error ? firstLine(e.message) : String(e)}`));
      return;
    }
    if (value !== null && value !== undefined) out.push({ index, value });
  });
  return out;
}

/** yaml's messages end with a code excerpt after "at line L, column C:"; the first line says it all. */
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/:\s*$/, '');
}
