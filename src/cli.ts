// The raw command line as commands read it (`nodemesh ca` reads its flags from it). Checking against
// the flag table, help and usage errors live in cli/ (parse.ts); this is the plain splitter and the
// accessors. Pure. Flags are `--name value` or `--name=value`; booleans are bare `--flag`.

export interface ParsedArgs {
  command: string;
  positional: string[];
  flags: Map<string, string | true>;
}

export function parseArgs(argv: readonly string[], booleans: ReadonlySet<string>): ParsedArgs {
  const [command = 'help', ...rest] = argv;
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (eq >= 0) flags.set(name, a.slice(eq + 1));
    else if (booleans.has(name)) flags.set(name, true);
    else {
      const v = rest[i + 1];
      if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
      flags.set(name, v);
      i++;
    }
  }
  return { command, positional, flags };
}

export function str(args: ParsedArgs, name: string, fallback?: string): string | undefined {
  const v = args.flags.get(name);
  if (v === true) throw new Error(`--${name} needs a value`);
  return v ?? fallback;
}

/** Rejects flags a command does not know, so a typo never silently falls back to a default. */
export function onlyFlags(args: ParsedArgs, known: readonly string[]): void {
  for (const k of args.flags.keys()) if (!known.includes(k)) throw new Error(`unknown flag --${k} for '${args.command}'`);
}
