// nodemesh / Service: one service (or several) by client, version, response code and flags, with the
// agents' resilience counters (retries, ejections, rate limits, overflow, faults, active health).
// `reporter` picks whose view: "source" (the client's agent, every request) or "destination" (the
// server's agent: requests that arrived through the tunnel).
import { custom, dashboard, datasourceVariable, labelValues, quantile, rate, successRate, sumBy, type Panel } from './grafana';

const TRAFFIC = '{__name__=~"istio_requests_total|istio_tcp_connections_opened_total"}';
const S = 'reporter=~"$reporter",destination_service_namespace=~"$namespace",destination_service_name=~"$service"';
/** nodemesh_* series label the service `namespace/name`. */
const KEY = 'service=~"$namespace/$service"';

const overview: Panel[] = [
  { title: 'Request rate', kind: 'stat', unit: 'reqps', description: 'Requests per second to the service.', targets: [{ expr: sumBy([], rate('istio_requests_total', S)) }] },
  { title: 'Success rate', kind: 'stat', unit: 'percentunit', description: 'Share of requests answered without a 5xx.', targets: [{ expr: successRate(S) }] },
  { title: 'p99 latency', kind: 'stat', unit: 'ms', description: '99th percentile of the request duration.', targets: [{ expr: quantile(0.99, 'istio_request_duration_milliseconds', S) }] },
  { title: 'TCP traffic', kind: 'stat', unit: 'Bps', description: 'TCP bytes per second, both directions.', targets: [{ expr: `${sumBy([], rate('istio_tcp_sent_bytes_total', S))} + ${sumBy([], rate('istio_tcp_received_bytes_total', S))}` }] },
];

const requests: Panel[] = [
  { title: 'Requests by source', kind: 'timeseries', unit: 'reqps', w: 12, description: 'Requests per second by client workload.', targets: [
    { expr: sumBy(['source_workload', 'source_workload_namespace'], rate('istio_requests_total', S)), legend: '{{source_workload}}.{{source_workload_namespace}}' },
  ] },
  { title: 'Success rate by source', kind: 'timeseries', unit: 'percentunit', w: 12, description: 'Non-5xx share by client workload.', targets: [
    { expr: successRate(S, ['source_workload', 'source_workload_namespace']), legend: '{{source_workload}}.{{source_workload_namespace}}' },
  ] },
  { title: 'Requests by version', kind: 'timeseries', unit: 'reqps', w: 8, description: 'Requests per second by destination workload and version (the endpoint that answered).', targets: [
    { expr: sumBy(['destination_workload', 'destination_version'], rate('istio_requests_total', S)), legend: '{{destination_workload}} {{destination_version}}' },
  ] },
  { title: 'Requests by response code', kind: 'timeseries', unit: 'reqps', w: 8, description: 'Requests per second by HTTP status (and gRPC status for gRPC).', targets: [
    { expr: sumBy(['response_code', 'grpc_response_status'], rate('istio_requests_total', S)), legend: '{{response_code}} {{grpc_response_status}}' },
  ] },
  { title: 'Requests by response flags', kind: 'timeseries', unit: 'reqps', w: 8, description: 'Requests the agent answered or ended itself, by Envoy response flag (UF connect failure, URX retries used up, FI fault, RL rate limited, UO overflow, NR no route...).', targets: [
    { expr: sumBy(['response_flags'], rate('istio_requests_total', `${S},response_flags!="-"`)), legend: '{{response_flags}}' },
  ] },
  { title: 'Latency (p50, p90, p99)', kind: 'timeseries', unit: 'ms', w: 12, description: 'Request duration quantiles.', targets: [0.5, 0.9, 0.99].map((q) => ({ expr: quantile(q, 'istio_request_duration_milliseconds', S), legend: `p${Math.round(q * 100)}` })) },
  { title: 'Request and response size (p50, p99)', kind: 'timeseries', unit: 'bytes', w: 12, description: 'Body sizes of requests and responses.', targets: [
    { expr: quantile(0.5, 'istio_request_bytes', S), legend: 'request p50' },
    { expr: quantile(0.99, 'istio_request_bytes', S), legend: 'request p99' },
    { expr: quantile(0.5, 'istio_response_bytes', S), legend: 'response p50' },
    { expr: quantile(0.99, 'istio_response_bytes', S), legend: 'response p99' },
  ] },
];

const tcp: Panel[] = [
  { title: 'TCP bytes by source', kind: 'timeseries', unit: 'Bps', w: 12, description: 'Bytes per second sent to and received from each client workload.', targets: [
    { expr: sumBy(['source_workload', 'source_workload_namespace'], rate('istio_tcp_sent_bytes_total', S)), legend: '{{source_workload}}.{{source_workload_namespace}} sent' },
    { expr: sumBy(['source_workload', 'source_workload_namespace'], rate('istio_tcp_received_bytes_total', S)), legend: '{{source_workload}}.{{source_workload_namespace}} received' },
  ] },
  { title: 'TCP connections by source', kind: 'timeseries', unit: 'cps', w: 12, description: 'Connections opened, and closed by response flags.', targets: [
    { expr: sumBy(['source_workload', 'source_workload_namespace'], rate('istio_tcp_connections_opened_total', S)), legend: '{{source_workload}}.{{source_workload_namespace}} opened' },
    { expr: sumBy(['response_flags'], rate('istio_tcp_connections_closed_total', S)), legend: 'closed {{response_flags}}' },
  ] },
];

const resilience: Panel[] = [
  { title: 'Retries', kind: 'timeseries', unit: 'ops', w: 8, description: 'Retries sent, and retries not sent because attempts, maxRetries (limit) or the retry budget ran out.', targets: [
    { expr: sumBy(['outcome'], rate('nodemesh_retries_total', KEY)), legend: '{{outcome}}' },
  ] },
  { title: 'Ejections and connect failures', kind: 'timeseries', unit: 'ops', w: 8, description: 'Endpoints ejected by outlierDetection (by reason) or by passive health after connect failures, and the connect failures themselves.', targets: [
    { expr: sumBy(['endpoint', 'reason'], rate('nodemesh_outlier_ejections_total', KEY)), legend: 'outlier {{endpoint}} {{reason}}' },
    { expr: sumBy(['endpoint'], rate('nodemesh_endpoint_ejections_total', KEY)), legend: 'passive {{endpoint}}' },
    { expr: sumBy(['endpoint'], rate('nodemesh_upstream_connect_failures_total', KEY)), legend: 'connect failure {{endpoint}}' },
  ] },
  { title: 'Rate limited and overflow', kind: 'timeseries', unit: 'reqps', w: 8, description: 'Requests refused by a LocalRateLimit (429 RL) and by connectionPool limits (503 UO), by limit.', targets: [
    { expr: sumBy(['limit'], rate('nodemesh_rate_limited_total', KEY)), legend: 'rate limited {{limit}}' },
    { expr: sumBy(['limit'], rate('nodemesh_upstream_overflow_total', KEY)), legend: 'overflow {{limit}}' },
  ] },
  { title: 'Faults injected', kind: 'timeseries', unit: 'reqps', w: 8, description: 'Delays and aborts injected by VirtualService fault rules.', targets: [
    { expr: sumBy(['kind'], rate('nodemesh_faults_injected_total', KEY)), legend: '{{kind}}' },
  ] },
  { title: 'Active health checks', kind: 'timeseries', unit: 'ops', w: 8, description: 'HealthCheck probes by result.', targets: [
    { expr: sumBy(['result'], rate('nodemesh_health_checks_total', KEY)), legend: '{{result}}' },
  ] },
  { title: 'Healthy endpoints (active checks)', kind: 'timeseries', unit: 'short', w: 8, description: 'Endpoints a HealthCheck finds healthy (1) or down (0), as each agent sees them.', targets: [
    { expr: `min by (endpoint) (nodemesh_endpoint_healthy{${KEY}})`, legend: '{{endpoint}}' },
  ] },
];

export const service = dashboard({
  uid: 'nodemesh-service',
  title: 'nodemesh / Service',
  description: 'One service: requests by source, version, response code and flags, latency, TCP traffic, and the resilience counters of the agents.',
  variables: [
    datasourceVariable(),
    labelValues('namespace', 'Namespace', TRAFFIC, 'destination_service_namespace'),
    labelValues('service', 'Service', TRAFFIC.replace('}', ',destination_service_namespace=~"$namespace"}'), 'destination_service_name'),
    custom('reporter', 'Reporter', ['source', 'destination']),
  ],
  rows: [
    { title: 'Overview', panels: overview },
    { title: 'Requests', panels: requests },
    { title: 'TCP', panels: tcp },
    { title: 'Resilience', panels: resilience },
  ],
});
