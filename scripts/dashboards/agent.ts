// nodemesh / Node agent: one agent per node (the `instance` Prometheus gave its :15020 target). The
// kernel's per-service counters (kernel-mode services included), datapath events and map occupancy;
// config reloads and discovery; certificates and the HBONE tunnel; the agent process itself
// (prom-client's default metrics) and the node's facts.
import { dashboard, datasourceVariable, labelValues, rate, sumBy, type Panel } from './grafana';

const N = 'instance=~"$instance"';
const NS = `${N},destination_service!="unknown"`;
const SVC = ['destination_service', 'dataplane'];

const kernel: Panel[] = [
  { title: 'Connections opened, kernel counters', kind: 'timeseries', unit: 'cps', w: 8, description: 'Connections to each service per second as sockops counts them, proxy and kernel mode alike.', targets: [
    { expr: sumBy(SVC, rate('nodemesh_kernel_connections_opened_total', NS)), legend: '{{destination_service}} ({{dataplane}})' },
  ] },
  { title: 'Active connections, kernel counters', kind: 'timeseries', unit: 'short', w: 8, description: 'Connections to each service open now (opened - closed).', targets: [
    { expr: sumBy(SVC, `nodemesh_kernel_connections_active{${NS}}`), legend: '{{destination_service}} ({{dataplane}})' },
  ] },
  { title: 'Bytes, kernel counters', kind: 'timeseries', unit: 'Bps', w: 8, description: 'Bytes per second sent and received by the clients of each service (TCP path and spliced).', targets: [
    { expr: sumBy(SVC, rate('nodemesh_kernel_sent_bytes_total', NS)), legend: '{{destination_service}} sent' },
    { expr: sumBy(SVC, rate('nodemesh_kernel_received_bytes_total', NS)), legend: '{{destination_service}} received' },
  ] },
  { title: 'Kernel-mode services', kind: 'table', unit: 'short', w: 8, description: 'Services with dataplane kernel: balanced by connect4 alone, they never reach an agent and appear in no istio_* series.', columns: { A: 'Connections/s', B: 'Active' }, targets: [
    { expr: sumBy(['destination_service'], rate('nodemesh_kernel_connections_opened_total', `${N},dataplane="kernel"`)) },
    { expr: sumBy(['destination_service'], `nodemesh_kernel_connections_active{${N},dataplane="kernel"}`) },
  ] },
  { title: 'Redirected connects', kind: 'timeseries', unit: 'ops', w: 8, description: 'connect() calls connect4 rewrote, to the agent or (kernel mode) to an endpoint.', targets: [
    { expr: sumBy(SVC, rate('nodemesh_kernel_redirected_total', NS)), legend: '{{destination_service}} ({{dataplane}})' },
  ] },
  { title: 'Spliced bytes', kind: 'timeseries', unit: 'Bps', w: 8, description: 'Bytes moved socket to socket by sk_msg, without a copy through the agent.', targets: [
    { expr: sumBy(['destination_service'], rate('nodemesh_kernel_spliced_bytes_total', NS)), legend: '{{destination_service}}' },
  ] },
  { title: 'Datapath events', kind: 'timeseries', unit: 'ops', w: 12, description: 'Node-wide eBPF events per second: connect4 decisions, sockhash inserts, sk_msg redirects, drops.', targets: [
    { expr: sumBy(['event'], rate('nodemesh_datapath_events_total', N)), legend: '{{event}}' },
  ] },
  { title: 'Map occupancy', kind: 'bargauge', unit: 'percentunit', w: 12, description: 'Entries in each pinned eBPF map against its max_entries (sized by --max-services, --max-backends, --max-connections, --max-meshed-pods).', targets: [
    { expr: `max by (map) (nodemesh_map_entries{${N}} / nodemesh_map_capacity{${N}})`, legend: '{{map}}' },
  ] },
];

const config: Panel[] = [
  { title: 'Last config applied', kind: 'stat', unit: 'short', w: 6, description: '1 when every agent applied its last config load, 0 when one rejected it (the previous config keeps serving).', targets: [
    { expr: `min(nodemesh_config_last_reload_successful{${N}})` },
  ] },
  { title: 'Config age', kind: 'stat', unit: 's', w: 6, description: 'Time since the oldest agent last applied a config.', targets: [
    { expr: `time() - min(nodemesh_config_last_reload_success_timestamp_seconds{${N}})` },
  ] },
  { title: 'Config loads', kind: 'timeseries', unit: 'short', w: 12, description: 'Config loads by result (applied, rejected) and config reads that failed with an I/O error, per interval.', targets: [
    { expr: sumBy(['result'], `increase(nodemesh_config_reloads_total{${N}}[$__rate_interval])`), legend: '{{result}}' },
    { expr: sumBy(['error'], `increase(nodemesh_config_read_errors_total{${N}}[$__rate_interval])`), legend: 'read error {{error}}' },
  ] },
  { title: 'Discovery synced', kind: 'stat', unit: 'short', w: 6, description: '1 once every watched Kubernetes resource has been listed in full, on every agent.', targets: [
    { expr: `min(nodemesh_discovery_synced{${N}})` },
  ] },
  { title: 'Since the last API event', kind: 'stat', unit: 's', w: 6, description: 'Time since the Kubernetes API last said anything to the quietest agent (bookmarks included).', targets: [
    { expr: `time() - min(nodemesh_discovery_last_event_timestamp_seconds{${N}})` },
  ] },
  { title: 'Discovery events and objects', kind: 'timeseries', unit: 'short', w: 12, description: 'Kubernetes objects held by kind, list and watch events per second, and objects skipped or rejected.', targets: [
    { expr: `max by (kind) (nodemesh_discovery_objects{${N}})`, legend: '{{kind}} held' },
    { expr: sumBy(['kind', 'type'], rate('nodemesh_discovery_events_total', N)), legend: '{{kind}} {{type}}/s' },
    { expr: sumBy(['kind'], `increase(nodemesh_discovery_rejected_total{${N}}[$__rate_interval])`), legend: '{{kind}} rejected' },
    { expr: sumBy(['kind'], `increase(nodemesh_discovery_skipped_total{${N}}[$__rate_interval])`), legend: '{{kind}} skipped' },
  ] },
];

const security: Panel[] = [
  { title: 'Certificate expiry', kind: 'timeseries', unit: 's', w: 8, description: 'Time left on each workload certificate the agents hold.', targets: [
    { expr: `min by (identity) (nodemesh_cert_expiry_timestamp_seconds{${N}}) - time()`, legend: '{{identity}}' },
  ] },
  { title: 'Certificate rotations and errors', kind: 'timeseries', unit: 'short', w: 8, description: 'Workload certificates renewed, and failed certificate requests by reason, per interval.', targets: [
    { expr: `sum(increase(nodemesh_cert_rotations_total{${N}}[$__rate_interval]))`, legend: 'rotations' },
    { expr: sumBy(['reason'], `increase(nodemesh_cert_errors_total{${N}}[$__rate_interval])`), legend: 'error {{reason}}' },
  ] },
  { title: 'Tunnel sessions and streams', kind: 'timeseries', unit: 'short', w: 8, description: 'Open HBONE sessions (server: accepted, client: pooled) and CONNECT streams accepted per second.', targets: [
    { expr: sumBy(['side'], `nodemesh_tunnel_sessions{${N}}`), legend: 'sessions {{side}}' },
    { expr: `sum(rate(nodemesh_tunnel_streams_total{${N}}[$__rate_interval]))`, legend: 'streams/s' },
  ] },
  { title: 'Tunnel rejections and open failures', kind: 'timeseries', unit: 'ops', w: 24, description: 'Connections, sessions or streams the tunnel server refused, by reason, and streams the client pool could not open, by error code.', targets: [
    { expr: sumBy(['reason'], rate('nodemesh_tunnel_rejected_total', N)), legend: 'rejected {{reason}}' },
    { expr: sumBy(['code'], rate('nodemesh_tunnel_open_failures_total', N)), legend: 'open failed {{code}}' },
  ] },
];

const agentProcess: Panel[] = [
  { title: 'Agent CPU', kind: 'timeseries', unit: 'percentunit', w: 8, description: 'CPU time per second of each agent process (1 = one core).', targets: [
    { expr: rate('process_cpu_seconds_total', N), legend: '{{instance}}' },
  ] },
  { title: 'Agent memory', kind: 'timeseries', unit: 'bytes', w: 8, description: 'Resident set size and V8 heap in use of each agent.', targets: [
    { expr: `process_resident_memory_bytes{${N}}`, legend: '{{instance}} RSS' },
    { expr: `nodejs_heap_size_used_bytes{${N}}`, legend: '{{instance}} heap used' },
  ] },
  { title: 'Event-loop lag', kind: 'timeseries', unit: 's', w: 8, description: 'Event-loop delay of each agent: p99 and mean since start (prom-client).', targets: [
    { expr: `nodejs_eventloop_lag_p99_seconds{${N}}`, legend: '{{instance}} p99' },
    { expr: `nodejs_eventloop_lag_mean_seconds{${N}}`, legend: '{{instance}} mean' },
  ] },
  { title: 'Garbage collection', kind: 'timeseries', unit: 'percentunit', w: 8, description: 'Share of time each agent spends in GC pauses, by GC kind.', targets: [
    { expr: sumBy(['instance', 'kind'], rate('nodejs_gc_duration_seconds_sum', N)), legend: '{{instance}} {{kind}}' },
  ] },
  { title: 'Open connections and handles', kind: 'timeseries', unit: 'short', w: 8, description: 'Captured client connections open on each agent, and its open file descriptors.', targets: [
    { expr: `nodemesh_downstream_connections_active{${N}}`, legend: '{{instance}} connections' },
    { expr: `process_open_fds{${N}}`, legend: '{{instance}} fds' },
  ] },
  { title: 'Trace spans', kind: 'timeseries', unit: 'short', w: 8, description: 'Spans the OTLP collector accepted, and spans dropped by reason (queue_full: the bounded buffer was full; export_failed: the collector refused, failed or timed out), per interval. All zero without an OTLP endpoint.', targets: [
    { expr: `sum by (instance) (increase(nodemesh_trace_spans_exported_total{${N}}[$__rate_interval]))`, legend: '{{instance}} exported' },
    { expr: sumBy(['instance', 'reason'], `increase(nodemesh_trace_spans_dropped_total{${N}}[$__rate_interval])`), legend: '{{instance}} dropped {{reason}}' },
  ] },
  { title: 'Log lines dropped', kind: 'timeseries', unit: 'short', w: 8, description: 'Log and access-log lines dropped because stdout did not keep up, per interval.', targets: [
    { expr: `increase(nodemesh_log_dropped_lines_total{${N}}[$__rate_interval])`, legend: '{{instance}}' },
  ] },
];

const facts: Panel[] = [
  { title: 'Nodes', kind: 'table', unit: 'short', w: 24, h: 6, description: 'What each agent read about its node at start (os-release, /proc/cpuinfo), and the agent version.', columns: { A: 'Info', B: 'CPUs', C: 'Memory', D: 'Agent' }, targets: [
    { expr: `max by (instance, hostname, os, distro, release, kernel, arch, cpu_model) (nodemesh_node_info{${N}})` },
    { expr: `max by (instance) (nodemesh_node_cpus{${N}})` },
    { expr: `max by (instance) (nodemesh_node_memory_bytes{${N}})` },
    { expr: `max by (instance, tag) (istio_build{${N},component="nodemesh"})` },
  ] },
];

export const agent = dashboard({
  uid: 'nodemesh-agent',
  title: 'nodemesh / Node agent',
  description: 'The node agents: kernel counters and datapath, config and discovery, certificates and tunnel, process health and node facts.',
  variables: [datasourceVariable(), labelValues('instance', 'Agent', 'istio_build{component="nodemesh"}', 'instance')],
  rows: [
    { title: 'Kernel datapath', panels: kernel },
    { title: 'Config and discovery', panels: config },
    { title: 'Certificates and tunnel', panels: security },
    { title: 'Agent process', panels: agentProcess },
    { title: 'Node facts', panels: facts },
  ],
});
