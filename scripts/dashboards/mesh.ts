// nodemesh / Mesh: the whole mesh at a glance. Every request and connection is counted once, by the
// agent on the client's node (reporter="source"); kernel-mode services, which never reach an agent's
// proxy, come from the kernel's own per-service counters.
import { dashboard, datasourceVariable, quantile, rate, successRate, sumBy, type Panel } from './grafana';

const SRC = 'reporter="source"';
const SVC = ['destination_service'];

const latency = (q: number): { expr: string; legend: string } => ({
  expr: quantile(q, 'istio_request_duration_milliseconds', SRC, SVC),
  legend: `{{destination_service}} p${Math.round(q * 100)}`,
});

const global: Panel[] = [
  { title: 'Request rate', kind: 'stat', unit: 'reqps', description: 'HTTP and gRPC requests per second across the mesh.', targets: [{ expr: sumBy([], rate('istio_requests_total', SRC)) }] },
  { title: 'Success rate', kind: 'stat', unit: 'percentunit', description: 'Share of requests answered without a 5xx.', targets: [{ expr: successRate(SRC) }] },
  { title: '5xx rate', kind: 'stat', unit: 'reqps', description: 'Requests per second answered with a 5xx (by the upstream or by the agent: see the response flags on the Service dashboard).', targets: [{ expr: sumBy([], rate('istio_requests_total', `${SRC},response_code=~"5.."`)) }] },
  { title: 'TCP connections opened', kind: 'stat', unit: 'cps', description: 'TCP connections per second opened through the agents (proxy mode).', targets: [{ expr: sumBy([], rate('istio_tcp_connections_opened_total', SRC)) }] },
];

const services: Panel[] = [
  { title: 'Requests by service', kind: 'timeseries', unit: 'reqps', w: 12, description: 'Requests per second by destination service.', targets: [{ expr: sumBy(SVC, rate('istio_requests_total', SRC)), legend: '{{destination_service}}' }] },
  { title: 'Success rate by service', kind: 'timeseries', unit: 'percentunit', w: 12, description: 'Non-5xx share of requests by destination service.', targets: [{ expr: successRate(SRC, SVC), legend: '{{destination_service}}' }] },
  { title: 'Latency by service (p50, p90, p99)', kind: 'timeseries', unit: 'ms', w: 24, description: 'Request duration quantiles by destination service, from the time the request ended to the last response byte.', targets: [latency(0.5), latency(0.9), latency(0.99)] },
];

const tcp: Panel[] = [
  { title: 'TCP bytes by service', kind: 'timeseries', unit: 'Bps', w: 8, description: 'Bytes per second on TCP connections: sent to clients (responses) and received from them (requests).', targets: [
    { expr: sumBy(SVC, rate('istio_tcp_sent_bytes_total', SRC)), legend: '{{destination_service}} sent' },
    { expr: sumBy(SVC, rate('istio_tcp_received_bytes_total', SRC)), legend: '{{destination_service}} received' },
  ] },
  { title: 'TCP connections by service', kind: 'timeseries', unit: 'cps', w: 8, description: 'TCP connections opened and closed per second.', targets: [
    { expr: sumBy(SVC, rate('istio_tcp_connections_opened_total', SRC)), legend: '{{destination_service}} opened' },
    { expr: sumBy(SVC, rate('istio_tcp_connections_closed_total', SRC)), legend: '{{destination_service}} closed' },
  ] },
  { title: 'Connections by service, kernel counters', kind: 'timeseries', unit: 'cps', w: 8, description: 'Connections opened per second as the kernel counts them, for every dataplane: kernel-mode services, which never reach an agent, show here only.', targets: [
    { expr: sumBy(['destination_service', 'dataplane'], rate('nodemesh_kernel_connections_opened_total', 'destination_service!="unknown"')), legend: '{{destination_service}} ({{dataplane}})' },
  ] },
];

const talkers: Panel[] = [
  { title: 'Top talkers, requests', kind: 'table', unit: 'reqps', w: 12, description: 'The ten busiest client workload → service pairs by request rate.', columns: { A: 'Requests/s' }, targets: [
    { expr: `topk(10, ${sumBy(['source_workload', 'source_workload_namespace', 'destination_service'], rate('istio_requests_total', SRC))})` },
  ] },
  { title: 'Top talkers, TCP bytes', kind: 'table', unit: 'Bps', w: 12, description: 'The ten busiest client workload → service pairs by TCP bytes (both directions).', columns: { A: 'Bytes/s' }, targets: [
    { expr: `topk(10, ${sumBy(['source_workload', 'source_workload_namespace', 'destination_service'], `${rate('istio_tcp_sent_bytes_total', SRC)} + ${rate('istio_tcp_received_bytes_total', SRC)}`)})` },
  ] },
];

export const mesh = dashboard({
  uid: 'nodemesh-mesh',
  title: 'nodemesh / Mesh',
  description: 'Request rate, success rate, latency quantiles and TCP traffic of every service in the mesh, and its top talkers.',
  variables: [datasourceVariable()],
  rows: [
    { title: 'Global', panels: global },
    { title: 'Services', panels: services },
    { title: 'TCP', panels: tcp },
    { title: 'Top talkers', panels: talkers },
  ],
});
