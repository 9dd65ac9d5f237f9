// Plain text tables for the commands that print them (stat, config): left-aligned columns, numbers
// right-aligned, two spaces between columns, as kubectl prints. Pure.

export interface Column {
  readonly title: string;
  /** Right-aligned (numbers). */
  readonly right?: boolean;
}

export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    columns
      .map((c, i) => {
        const v = cells[i] ?? '';
        const w = widths[i] as number;
        if (i === columns.length - 1 && !c.right) return v;
        return c.right ? v.padStart(w) : v.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.title)), ...rows.map(line)];
}
