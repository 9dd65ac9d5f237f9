// The one flag table of the `nodemesh` command line. Parsing, value checks, `--help` and the README's
// flag table are all derived from it, so a flag cannot be accepted without being documented (or the
// other way round). Pure data; no imports beyond the types, so `--help` loads nothing else.

export const COMMANDS = ['agent', 'ca', 'check', 'uninstall', 'stat', 'config'] as const;
export type CommandName = (typeof COMMANDS)[number];

/**
 * Value kinds. bool: bare `--flag` (or `--flag=true|false`); duration: Go syntax (`500ms`, `5s`, `1m30s`)
 * in milliseconds; port: 1-65535; count: an integer >= 1; choice: one of `choices`; ip: an IPv4 address;
 * addr: HOST:PORT; text: any non-empty string (the command checks its form).
 */
export type FlagKind = 'bool' | 'text' | 'path' | 'duration' | 'port' | 'count' | 'choice' | 'ip' | 'addr';

export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  /** The placeholder in usage lines (DIR, FILE, DUR...); bools have none. */
  readonly metavar?: string;
  /** As typed on the command line; parsed with the kind. Absent: no value unless given. */
  readonly default?: string;
  /** What help and README say when the default is not one literal (hostname, in-cluster...). */
  readonly defaultText?: string;
  /** Durations, addresses: whether 0 is meaningful (a duration "off", a port "any free one"). */
  readonly zeroOk?: boolean;
  /** Durations: the smallest value accepted, in ms. */
  readonly minMs?: number;
  /** Counts: the largest value accepted. */
  readonly max?: number;
  /** Choices; for `choice`, or extra words an `ip` flag also takes (auto, none). */
  readonly choices?: readonly string[];
  readonly help: string;
  readonly commands: readonly CommandName[];
  /** A one-letter alias (`-o json`), as kubectl has for a few flags. */
  readonly short?: string;
}

export interface CommandSpec {
  readonly name: CommandName;
  readonly summary: string;
  /** Positional arguments, e.g. PATH; empty: none accepted. */
  readonly positional: readonly string[];
  /** Lines after the flags in `--help` (notes, constraints between flags). */
  readonly notes?: readonly string[];
}

export const COMMAND_SPECS: readonly CommandSpec[] = [
  {
    name: 'agent',
    summary: 'run the node agent: eBPF capture, L7 proxy, mesh tunnel, metrics',
    positional: [],
    notes: [
      'Kubernetes discovery is on in a pod, with --kubeconfig FILE, or with $KUBECONFIG; without it --config is required.',
      'Without --ca the agent embeds a CA (single node, demo). --ca needs --ca-root and --node-token.',
      'Environment: NODEMESH_LOG_LEVEL=fatal|error|warn|info|debug|trace|silent (default info).',
    ],
  },
  {
    name: 'ca',
    summary: 'run the mesh CA (Istio CreateCertificate over TLS)',
    positional: [],
    notes: [
      'The root lives in --dir, or in the Secret --root-secret (created on first start), its certificate published in --root-configmap.',
      'With the Kubernetes API (--kubeconfig, $KUBECONFIG or in a pod) it learns the pods of each node and checks',
      "the agents' ServiceAccount tokens by TokenReview; without it --node-tokens and --config are required.",
    ],
  },
  { name: 'check', summary: 'validate a config file or directory offline (same code as the agent)', positional: ['PATH'] },
  { name: 'uninstall', summary: 'detach the programs and remove the pins (idempotent)', positional: [] },
  {
    name: 'stat',
    summary: "live per-service traffic from the agent's admin API, refreshed in place like top",
    positional: [],
    notes: [
      'Rates are the difference of two samples --interval apart; --once samples twice and prints one table.',
      '--pins reads the kernel counters from the pins instead (works while the agent is down; needs root).',
    ],
  },
  {
    name: 'config',
    summary: "the agent's workloads, services, policies or certs (like istioctl ztunnel-config)",
    positional: ['KIND'],
    notes: ['KIND is workloads, services, policies or certs.'],
  },
];

const PIN_DIR = '/sys/fs/bpf/nodemesh';
const MAX_ENTRIES = 1 << 24;

export const FLAGS: readonly FlagSpec[] = [
  // Where the mesh view comes from.
  { name: 'config', kind: 'path', metavar: 'PATH', defaultText: '(required without the API)', commands: ['agent'], help: 'a YAML/JSON file (multi-document) or a ConfigMap-mounted directory; with Kubernetes discovery it applies on top of what the API holds' },
  { name: 'config', kind: 'path', metavar: 'PATH', defaultText: '(required without the API)', commands: ['ca'], help: 'the mesh config whose WorkloadEntries say which workload runs on which node' },
  { name: 'kubeconfig', kind: 'path', metavar: 'FILE', defaultText: 'in-cluster, else $KUBECONFIG', commands: ['agent', 'ca'], help: 'where the Kubernetes API is; discovery is on in a pod, with this flag or with $KUBECONFIG' },
  { name: 'no-kubernetes', kind: 'bool', defaultText: 'off', commands: ['agent', 'ca'], help: 'do not use the Kubernetes API, even in a pod' },
  { name: 'cluster-id', kind: 'text', metavar: 'ID', default: 'Kubernetes', commands: ['agent'], help: 'source_cluster / destination_cluster metric labels' },
  { name: 'cluster-domain', kind: 'text', metavar: 'DOMAIN', default: 'cluster.local', commands: ['agent'], help: 'DNS suffix of Service hosts (<name>.<namespace>.svc.<domain>)' },
  // Capture.
  { name: 'cgroup', kind: 'path', metavar: 'DIR', default: '/sys/fs/cgroup', commands: ['agent'], help: 'cgroup v2 directory the programs attach to' },
  { name: 'cgroup', kind: 'path', metavar: 'DIR', defaultText: '(none)', commands: ['uninstall'], help: 'also report other programs still attached to this cgroup' },
  { name: 'bpffs', kind: 'path', metavar: 'DIR', default: PIN_DIR, commands: ['agent', 'uninstall', 'stat'], help: 'pin directory on bpffs' },
  { name: 'pins', kind: 'bool', defaultText: 'off', commands: ['stat'], help: 'print the kernel counters and datapath events read from the pins in --bpffs, once, instead of asking the agent' },
  { name: 'no-capture', kind: 'bool', defaultText: 'off', commands: ['agent'], help: 'no eBPF: the agent listens on each loopback VIP:port itself (development)' },
  { name: 'bpf-objects', kind: 'path', metavar: 'DIR', defaultText: 'build/bpf of the install', commands: ['agent'], help: 'directory of the compiled eBPF objects' },
  // This node.
  { name: 'node', kind: 'text', metavar: 'NAME', defaultText: 'hostname', commands: ['agent'], help: "this node's name (matches kubernetes.io/hostname and Node documents)" },
  { name: 'locality', kind: 'text', metavar: 'R/Z/S', defaultText: "the Node's topology labels", commands: ['agent'], help: "this node's locality region/zone/subzone, for locality load balancing (wins over the Node's labels)" },
  { name: 'node-ip', kind: 'ip', metavar: 'IP', default: '127.0.0.1', commands: ['agent'], help: 'where pods reach the agent; captured connections are rewritten to <node-ip>:<outbound-port>' },
  { name: 'outbound-port', kind: 'port', metavar: 'PORT', default: '15001', commands: ['agent'], help: 'port of the outbound listener (captured connections)' },
  { name: 'dns-port', kind: 'port', metavar: 'PORT', default: '15053', zeroOk: true, commands: ['agent'], help: "the node's DNS proxy (UDP) on <node-ip>: mesh hosts answered from the mesh view, other names forwarded (0: any free port)" },
  { name: 'dns-upstream', kind: 'text', metavar: 'IP[:PORT],...', defaultText: 'nameservers of /etc/resolv.conf', commands: ['agent'], help: 'resolvers the DNS proxy forwards to and ServiceEntry names (resolution DNS) are looked up at' },
  { name: 'no-dns', kind: 'bool', defaultText: 'off', commands: ['agent'], help: 'no DNS proxy (ServiceEntry names are still resolved)' },
  { name: 'admin-host', kind: 'text', metavar: 'HOST', default: '0.0.0.0', commands: ['agent'], help: 'address of the metrics and readiness listeners' },
  { name: 'metrics-port', kind: 'port', metavar: 'PORT', default: '15020', zeroOk: true, commands: ['agent'], help: 'Prometheus /metrics and /stats/prometheus (0: any free port)' },
  { name: 'ready-port', kind: 'port', metavar: 'PORT', default: '15021', zeroOk: true, commands: ['agent'], help: 'readiness /healthz/ready (0: any free port)' },
  { name: 'admin-port', kind: 'port', metavar: 'PORT', default: '15000', zeroOk: true, commands: ['agent'], help: 'admin API (gRPC: Stats, Config) on 127.0.0.1 only, read by nodemesh stat and nodemesh config (0: any free port)' },
  { name: 'no-admin-api', kind: 'bool', defaultText: 'off', commands: ['agent'], help: 'no admin API listener' },
  // Reading a running agent.
  { name: 'admin-address', kind: 'addr', metavar: 'HOST:PORT', default: '127.0.0.1:15000', commands: ['stat', 'config'], help: "the agent's admin API (its --admin-port)" },
  { name: 'interval', kind: 'duration', metavar: 'DUR', default: '1s', minMs: 100, commands: ['stat'], help: 'time between two samples (the screen is redrawn after each)' },
  { name: 'once', kind: 'bool', defaultText: 'off', commands: ['stat'], help: 'take two samples --interval apart, print one table (or JSON document) and exit' },
  { name: 'output', short: 'o', kind: 'choice', metavar: 'table|json', default: 'table', choices: ['table', 'json'], commands: ['stat'], help: 'table for people; json for scripts: one object per sample, one per line' },
  { name: 'output', short: 'o', kind: 'choice', metavar: 'table|json', default: 'table', choices: ['table', 'json'], commands: ['config'], help: 'table for people; json for scripts: one document' },
  // Traffic.
  { name: 'connect-timeout', kind: 'duration', metavar: 'DUR', default: '5s', commands: ['agent'], help: 'upstream connect bound (503 UF), for routes that set none' },
  { name: 'request-timeout', kind: 'duration', metavar: 'DUR', default: '15s', zeroOk: true, commands: ['agent'], help: 'route timeout (504 UT) for routes that set none; 0 = none' },
  { name: 'header-timeout', kind: 'duration', metavar: 'DUR', default: '10s', commands: ['agent'], help: 'a client must send a whole request head within this (408 after it)' },
  { name: 'idle-timeout', kind: 'duration', metavar: 'DUR', default: '60s', commands: ['agent'], help: 'a client connection with no request in flight is closed after this' },
  { name: 'workers', kind: 'count', metavar: 'N', defaultText: "the CPUs the agent's cgroup allows", max: 256, commands: ['agent'], help: 'proxy worker threads, each accepting connections (SO_REUSEPORT); one config, one /metrics, one rate limit table for all' },
  { name: 'drain-timeout', kind: 'duration', metavar: 'DUR', default: '5s', zeroOk: true, commands: ['agent'], help: 'on SIGTERM, how long to wait for a next agent to take over the listener, then how long in-flight and keep-alive requests are still served' },
  { name: 'access-log', kind: 'choice', metavar: 'on|off', default: 'on', choices: ['on', 'off'], commands: ['agent'], help: 'one Envoy-style JSON line per request' },
  // Kernel map capacities (entries, fixed when the maps are created).
  { name: 'max-services', kind: 'count', metavar: 'N', default: '16384', max: MAX_ENTRIES, commands: ['agent'], help: 'kernel map capacity: service VIP:ports' },
  { name: 'max-services', kind: 'count', metavar: 'N', default: '16384', max: MAX_ENTRIES, commands: ['check'], help: "fail when the config needs more service entries than the agent's maps hold" },
  { name: 'max-backends', kind: 'count', metavar: 'N', default: '65536', max: MAX_ENTRIES, commands: ['agent'], help: 'kernel map capacity: service endpoints, all modes (proxy-mode ones are the fallback while no agent listens)' },
  { name: 'max-backends', kind: 'count', metavar: 'N', default: '65536', max: MAX_ENTRIES, commands: ['check'], help: "fail when the config needs more endpoint entries than the agent's maps hold" },
  { name: 'max-connections', kind: 'count', metavar: 'N', default: '262144', max: MAX_ENTRIES, commands: ['agent'], help: 'kernel map capacity: captured connections tracked at once' },
  { name: 'max-meshed-pods', kind: 'count', metavar: 'N', default: '16384', max: MAX_ENTRIES, commands: ['agent'], help: 'kernel map capacity: pod cgroups in the mesh' },
  // Identity and the tunnel.
  { name: 'trust-domain', kind: 'text', metavar: 'DOMAIN', default: 'cluster.local', commands: ['agent', 'ca'], help: 'SPIFFE trust domain of workload identities' },
  { name: 'tunnel-port', kind: 'port', metavar: 'PORT', default: '15008', zeroOk: true, commands: ['agent'], help: 'HBONE tunnel listener (mTLS, HTTP/2 CONNECT) between agents (0: any free port)' },
  { name: 'trusted-proxies', kind: 'count', metavar: 'N', default: '0', zeroOk: true, max: 64, commands: ['agent'], help: 'proxies in front of clients: remoteIpBlocks and remote.ip read X-Forwarded-For N addresses from the right (0: the connection\'s client)' },
  { name: 'delivery-address', kind: 'ip', metavar: 'auto|none|IP', default: 'auto', choices: ['auto', 'none'], commands: ['agent'], help: 'source address of tunnelled deliveries to pods (STRICT tells agent traffic by it); auto: 169.254.7.127 when on this host' },
  { name: 'cert-ttl', kind: 'duration', metavar: 'DUR', default: '24h', minMs: 1000, commands: ['agent'], help: 'lifetime asked for workload certificates (renewed at half-life)' },
  { name: 'ca', kind: 'addr', metavar: 'ADDR:PORT', defaultText: 'embedded CA', commands: ['agent'], help: 'the mesh CA (nodemesh ca)' },
  { name: 'ca-root', kind: 'path', metavar: 'FILE', commands: ['agent'], help: "the mesh CA's root certificate (with --ca)" },
  { name: 'node-token', kind: 'path', metavar: 'FILE', commands: ['agent'], help: "this node's bootstrap token for the CA, re-read on every use (with --ca)" },
  // The CA.
  { name: 'listen', kind: 'addr', metavar: 'ADDR:PORT', default: '0.0.0.0:15012', zeroOk: true, commands: ['ca'], help: 'where the CA serves gRPC over TLS (port 0: any free port)' },
  { name: 'dir', kind: 'path', metavar: 'DIR', commands: ['ca'], help: 'keep the root key and certificate in this directory (created on first start)' },
  { name: 'root-secret', kind: 'text', metavar: 'NS/NAME', commands: ['ca'], help: 'keep the root in this Secret instead (needs the API)' },
  { name: 'root-configmap', kind: 'text', metavar: 'NAME', commands: ['ca'], help: "publish the root certificate in this ConfigMap, in the Secret's namespace" },
  { name: 'node-tokens', kind: 'path', metavar: 'FILE', commands: ['ca'], help: 'node name → bootstrap token file (re-read on change)' },
  { name: 'token-audience', kind: 'text', metavar: 'AUD', default: 'nodemesh-ca', commands: ['ca'], help: 'audience the agents\' ServiceAccount tokens must carry (TokenReview)' },
  { name: 'agent-service-account', kind: 'text', metavar: 'NS/NAME', default: 'nodemesh-system/nodemesh-agent', commands: ['ca'], help: 'the ServiceAccount the agents run as' },
  { name: 'max-ttl', kind: 'text', metavar: 'TTL', default: '24h', commands: ['ca'], help: 'longest certificate lifetime issued (3600, 30m, 24h or 7d)' },
  { name: 'server-name', kind: 'text', metavar: 'NAME,...', commands: ['ca'], help: "extra DNS names or IPs in the CA's serving certificate" },
];

/** The rows of COMMAND's flags, in table order. */
export function flagsOf(command: CommandName): FlagSpec[] {
  return FLAGS.filter((f) => f.commands.includes(command));
}

/** The flag names COMMAND accepts (what the deploy manifests may pass). */
export function flagNames(command: CommandName): string[] {
  return flagsOf(command).map((f) => f.name);
}

export function flagSpec(command: CommandName, name: string): FlagSpec | undefined {
  return FLAGS.find((f) => f.name === name && f.commands.includes(command));
}

export function isCommand(s: string): s is CommandName {
  return (COMMANDS as readonly string[]).includes(s);
}

export function commandSpec(command: CommandName): CommandSpec {
  return COMMAND_SPECS.find((c) => c.name === command) as CommandSpec;
}
