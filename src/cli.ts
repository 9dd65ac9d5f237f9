// Command-line parsing: pure, so usage errors are table-tested. Flags are `--name value` or
// `--name=value`; booleans are bare `--flag`.

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

export function port(args: ParsedArgs, name: string, fallback: number): number {
  const v = str(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name} must be a port number (0-65535), got ${v}`);
  return n;
}

export function ms(args: ParsedArgs, name: string): number | undefined {
  const v = str(args, name);
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v);
  if (!m) throw new Error(`--${name} must be a duration like 500ms, 5s, 10m or 24h, got ${v}`);
  return Number(m[1]) * ({ s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? ''] ?? 1);
}

/** Rejects flags a command does not know, so a typo never silently falls back to a default. */
export function onlyFlags(args: ParsedArgs, known: readonly string[]): void {
  for (const k of args.flags.keys()) if (!known.includes(k)) throw new Error(`unknown flag --${k} for '${args.command}'`);
}

export const USAGE_HEAD = `nodemesh — sidecar-free service mesh agent

usage:
  nodemesh agent [--config PATH] [--kubeconfig FILE | --no-kubernetes] [--cluster-id Kubernetes]
                 [--cluster-domain cluster.local] [--cgroup DIR] [--bpffs DIR] [--node NAME] [--node-ip IP]
                 [--no-capture] [--outbound-port 15001] [--admin-host 0.0.0.0]
                 [--metrics-port 15020] [--ready-port 15021] [--bpf-objects DIR]
                 [--connect-timeout 5s] [--request-timeout 15s] [--access-log on|off]
                 [--trust-domain cluster.local] [--tunnel-port 15008] [--delivery-address auto|none|IP] [--cert-ttl 24h]
                 [--ca ADDR:PORT --ca-root FILE --node-token FILE]   (without --ca: embedded CA)
  nodemesh check PATH                       validate a config file or directory offline
  nodemesh uninstall [--bpffs DIR] [--cgroup DIR]   detach programs, remove pins
  nodemesh stat [--bpffs DIR]               kernel counters and map occupancy from the pins
`;
