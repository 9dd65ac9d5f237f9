// Config problems: where they are (file, document, kind/name, field) and how they read on one line.
import type { ConfigIssue } from './model';

/** Document index used for problems that belong to a whole file (unreadable, no documents...). */
export const WHOLE_FILE = -1;

/** Collects the issues of one document; kind and name are filled in as soon as they are known. */
export class IssueSink {
  kind: string | undefined;
  /** "namespace/name" once metadata was read. */
  name: string | undefined;

  constructor(
    readonly issues: ConfigIssue[],
    readonly file: string,
    readonly document: number,
    /** Where warnings go: the config still loads, the problem is only said. */
    readonly warnings: ConfigIssue[] = [],
  ) {}

  report(field: string | undefined, message: string): void {
    this.issues.push(issue(this.file, this.document, message, { kind: this.kind, name: this.name, field }));
  }

  warn(field: string | undefined, message: string): void {
    this.warnings.push(issue(this.file, this.document, message, { kind: this.kind, name: this.name, field }));
  }
}

export function issue(
  file: string,
  document: number,
  message: string,
  where: { kind?: string | undefined; name?: string | undefined; field?: string | undefined } = {},
): ConfigIssue {
  // Optional properties are left out rather than set to undefined, so issues compare and print cleanly.
  return {
    file,
    document,
    ...(where.kind !== undefined ? { kind: where.kind } : {}),
    ...(where.name !== undefined ? { name: where.name } : {}),
    ...(where.field !== undefined && where.field !== '' ? { field: where.field } : {}),
    message,
  };
}

/**
 * One line per issue: `FILE: document N (Kind ns/name): FIELD: message`. Parts that are unknown are left
 * out. N is 0-based, like yq's documentIndex, so it matches ConfigIssue.document.
 */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map(formatIssue).join('\n');
}

export function formatIssue(i: ConfigIssue): string {
  let where = i.file;
  if (i.document !== WHOLE_FILE) {
    where += `: document ${i.document}`;
    const who = [i.kind, i.name].filter((s) => s !== undefined).join(' ');
    if (who !== '') where += ` (${who})`;
  }
  return i.field !== undefined ? `${where}: ${i.field}: ${i.message}` : `${where}: ${i.message}`;
}
