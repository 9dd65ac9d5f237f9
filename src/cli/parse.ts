// The command line against the flag table, as kubectl reads it: `nodemesh COMMAND [flags] [args]`,
// flags as `--name value`, `--name=value` or a bare `--bool`, `-h`/`--help` anywhere for the command's
// usage, `--` ends the flags. Every value is checked by its kind here, before anything starts. Pure.
import type { ParsedArgs } from '../cli';
import { COMMANDS, commandSpec, flagSpec, flagsOf, isCommand, type CommandName, type FlagSpec } from './flags';
import { flagValue, UsageError, type FlagValue } from './values';

export type Invocation =
  | { readonly kind: 'help'; readonly command?: CommandName }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly command: CommandName; readonly args: ParsedArgs; readonly flags: Flags };

/** The checked flag values of one command: what was given, else the table's default. */
export class Flags {
  constructor(
    readonly command: CommandName,
    private readonly given_: ReadonlyMap<string, FlagValue>,
  ) {}

  /** Whether --NAME was on the command line (defaults do not count). */
  given(name: string): boolean {
    return this.given_.has(this.spec(name).name);
  }

  /** The value given, else the default (parsed by the flag's kind), else undefined. */
  value(name: string): FlagValue | undefined {
    const spec = this.spec(name);
    const v = this.given_.get(name);
    if (v !== undefined) return v;
    return spec.default === undefined ? undefined : flagValue(spec, spec.default);
  }

  text(name: string): string | undefined {
    const v = this.value(name);
    return v === undefined ? undefined : String(v);
  }

  num(name: string): number | undefined {
    const v = this.value(name);
    return typeof v === 'number' ? v : undefined;
  }

  bool(name: string): boolean {
    return this.value(name) === true;
  }

  private spec(name: string): FlagSpec {
    const s = flagSpec(this.command, name);
    // A program error, not a usage error: the code asked for a flag the table does not give it.
    if (!s) throw new Error(`flag --${name} is not in the table for '${this.command}'`);
    return s;
  }
}

const HELP = new Set(['-h', '--help']);
const VERSION = new Set(['-v', '--version', 'version']);

export function parseCommandLine(argv: readonly string[]): Invocation {
  const [first, ...rest] = argv;
  if (first === undefined || HELP.has(first) || first === 'help') {
    const topic = first === undefined ? undefined : rest.find((a) => !a.startsWith('-'));
    if (topic === undefined) return { kind: 'help' };
    if (!isCommand(topic)) throw new UsageError(unknownCommand(topic));
    return { kind: 'help', command: topic };
  }
  if (VERSION.has(first)) return { kind: 'version' };
  if (!isCommand(first)) throw new UsageError(unknownCommand(first));
  const command = first;
  const end = rest.indexOf('--');
  if ((end < 0 ? rest : rest.slice(0, end)).some((a) => HELP.has(a))) return { kind: 'help', command };
  const { flags, raw, positional } = readFlags(command, rest);
  const want = commandSpec(command).positional;
  if (positional.length > want.length) {
    const extra = positional[want.length] as string;
    throw new UsageError(`unexpected argument ${JSON.stringify(extra)} for "nodemesh ${command}"`, command);
  }
  if (positional.length < want.length) throw new UsageError(`nodemesh ${command} needs ${want.slice(positional.length).join(' ')}`, command);
  return { kind: 'run', command, args: { command, positional, flags: raw }, flags: new Flags(command, flags) };
}

function readFlags(command: CommandName, rest: readonly string[]): { flags: Map<string, FlagValue>; raw: Map<string, string | true>; positional: string[] } {
  const flags = new Map<string, FlagValue>();
  const raw = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    if (a === '--') {
      positional.push(...rest.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      positional.push(a);
      continue;
    }
    // -o json, -o=json and -ojson: a flag's one-letter alias stands for its --name.
    const alias = a.startsWith('--') ? undefined : flagsOf(command).find((f) => f.short !== undefined && a.startsWith(`-${f.short}`));
    if (!a.startsWith('--') && alias === undefined) throw new UsageError(`unknown shorthand flag ${JSON.stringify(a)} for "nodemesh ${command}" (flags are --name; -h is help)`, command);
    const long = alias === undefined ? a : `--${alias.name}${a.length > 2 ? `=${a.slice(a[2] === '=' ? 3 : 2)}` : ''}`;
    const eq = long.indexOf('=');
    const name = long.slice(2, eq < 0 ? undefined : eq);
    const spec = flagSpec(command, name);
    if (!spec) throw new UsageError(unknownFlag(command, name), command);
    let value: string | true;
    if (eq >= 0) value = long.slice(eq + 1);
    else if (spec.kind === 'bool') value = true;
    else {
      const next = rest[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value (${spec.metavar ?? 'VALUE'})`, command);
      value = next;
      i++;
    }
    let v: FlagValue;
    try {
      v = flagValue(spec, value);
    } catch (e) {
      throw new UsageError((e as Error).message, command);
    }
    // Repeated flags: the last one wins, as in kubectl. `--bool=false` is the same as leaving it out.
    if (v === false) {
      flags.delete(name);
      raw.delete(name);
      continue;
    }
    flags.set(name, v);
    raw.set(name, value === true || spec.kind === 'bool' ? true : value);
  }
  return { flags, raw, positional };
}

function unknownCommand(word: string): string {
  const near = closest(word, [...COMMANDS, 'help', 'version']);
  return `unknown command ${JSON.stringify(word)} for "nodemesh"${near ? ` (did you mean "${near}"?)` : ''}`;
}

function unknownFlag(command: CommandName, name: string): string {
  const near = closest(name, flagsOf(command).map((f) => f.name));
  return `unknown flag --${name} for "nodemesh ${command}"${near ? ` (did you mean --${near}?)` : ''}`;
}

/** The candidate within edit distance 2 (or sharing a 4-letter prefix), if one is clearly nearest. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 4 ? 1 : distance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= 2 ? best : undefined;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}
