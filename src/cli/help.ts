// `--help` text and the README's flag table, both generated from the flag table. Pure.
import { COMMAND_SPECS, commandSpec, FLAGS, flagsOf, type CommandName, type FlagSpec } from './flags';
import { shownDefault } from './values';

const WIDTH = 100;

/** `nodemesh --help`: the commands. */
export function mainUsage(): string {
  const pad = Math.max(...COMMAND_SPECS.map((c) => c.name.length), 'version'.length) + 3;
  return [
    'nodemesh — sidecar-free service mesh for Kubernetes',
    '',
    'Usage:',
    '  nodemesh COMMAND [flags]',
    '',
    'Commands:',
    ...COMMAND_SPECS.map((c) => `  ${c.name.padEnd(pad)}${c.summary}`),
    `  ${'version'.padEnd(pad)}print the version (also --version, -v)`,
    '',
    'Use "nodemesh COMMAND --help" for the flags of a command.',
    'Exit status: 0 done, 1 failed, 2 invalid command line.',
    '',
  ].join('\n');
}

/** `nodemesh COMMAND --help`: synopsis, one line (wrapped) per flag with its default, notes. */
export function commandUsage(command: CommandName): string {
  const spec = commandSpec(command);
  const flags = flagsOf(command);
  const left = (f: FlagSpec): string => `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.metavar ? ` ${f.metavar}` : ''}`;
  const rows: [string, string][] = [
    ...flags.map((f): [string, string] => {
      const d = shownDefault(f);
      const tail = d === undefined ? '' : d.startsWith('(') ? ` ${d}` : ` (default ${d})`;
      return [left(f), `${f.help}${tail}`];
    }),
    ['-h, --help', `help for ${command}`],
  ];
  const col = Math.min(38, Math.max(...rows.map(([l]) => l.length)) + 3);
  const lines = [
    `nodemesh ${command}: ${spec.summary}`,
    '',
    'Usage:',
    `  nodemesh ${command}${flags.length > 0 ? ' [flags]' : ''}${spec.positional.map((p) => ` ${p}`).join('')}`,
    '',
    'Flags:',
  ];
  for (const [l, r] of rows) {
    const label = `  ${l}`;
    const body = wrap(r, WIDTH - col - 2);
    if (label.length + 2 > col + 2) lines.push(label, ...body.map((b) => `${' '.repeat(col + 2)}${b}`));
    else lines.push(`${label.padEnd(col + 2)}${body[0] ?? ''}`, ...body.slice(1).map((b) => `${' '.repeat(col + 2)}${b}`));
  }
  if (spec.notes?.length) lines.push('', ...spec.notes.flatMap((n) => wrap(n, WIDTH - 2).map((w) => `  ${w}`)));
  return `${lines.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') out.push(line);
  return out;
}

export const README_TABLE_HEAD = '| flag | commands | default | meaning |';

/** The README's flag table: one row per table row (a flag may have a row per command). */
export function markdownFlagTable(): string {
  // Pipes would end the cell; angle brackets would be taken for HTML.
  const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const rows = FLAGS.map((f) => {
    const d = f.defaultText ?? (f.default !== undefined ? `\`${f.default}\`` : '');
    return `| \`--${f.name}${f.metavar ? ` ${cell(f.metavar)}` : ''}\` | ${f.commands.join(', ')} | ${cell(d)} | ${cell(f.help)} |`;
  });
  return [README_TABLE_HEAD, '|---|---|---|---|', ...rows].join('\n');
}
