// nodemesh / Workload: one workload's inbound traffic (it is the destination) and outbound traffic (it
// is the client; always the client agent's view, reporter="source"). The workload list is the union of
// client and server workloads, which one label_values() cannot give: query_result() and a regex, as
// Istio's workload dashboard does.
import { custom, dashboard, datasourceVariable, quantile, queryResult, rate, successRate, sumBy, type Panel } from './grafana';

const IN = 'reporter=~"$reporter",destination_workload_namespace=~"$namespace",destination_workload=~"$workload"';
const OUT = 'reporter="source",source_workload_namespace=~"$namespace",source_workload=~"$workload"';
const SRC = ['source_workload', 'source_workload_namespace'];
const DST = ['destination_service'];

const inbound: Panel[] = [
  { title: 'Inbound request rate', kind: 'stat', unit: 'reqps', w: 6, description: 'Requests per second to the workload.', targets: [{ expr: sumBy([], rate('istio_requests_total', IN)) }] },
  { title: 'Inbound success rate', kind: 'stat', unit: 'percentunit', w: 6, description: 'Share of requests to the workload answered without a 5xx.', targets: [{ expr: successRate(IN) }] },
  { title: 'Inbound p99 latency', kind: 'stat', unit: 'ms', w: 6, description: '99th percentile of the request duration.', targets: [{ expr: quantile(0.99, 'istio_request_duration_milliseconds', IN) }] },
  { title: 'Inbound TCP traffic', kind: 'stat', unit: 'Bps', w: 6, description: 'TCP bytes per second to and from the workload.', targets: [{ expr: `${sumBy([], rate('istio_tcp_sent_bytes_total', IN))} + ${sumBy([], rate('istio_tcp_received_bytes_total', IN))}` }] },
  { title: 'Inbound requests by source and response code', kind: 'timeseries', unit: 'reqps', w: 12, description: 'Requests per second by client workload and status.', targets: [
    { expr: sumBy([...SRC, 'response_code'], rate('istio_requests_total', IN)), legend: '{{source_workload}}.{{source_workload_namespace}} {{response_code}}' },
  ] },
  { title: 'Inbound latency by source (p50, p99)', kind: 'timeseries', unit: 'ms', w: 12, description: 'Request duration quantiles by client workload.', targets: [
    { expr: quantile(0.5, 'istio_request_duration_milliseconds', IN, SRC), legend: '{{source_workload}}.{{source_workload_namespace}} p50' },
    { expr: quantile(0.99, 'istio_request_duration_milliseconds', IN, SRC), legend: '{{source_workload}}.{{source_workload_namespace}} p99' },
  ] },
  { title: 'Inbound TCP bytes by source', kind: 'timeseries', unit: 'Bps', w: 12, description: 'Bytes per second sent to and received from each client workload.', targets: [
    { expr: sumBy(SRC, rate('istio_tcp_sent_bytes_total', IN)), legend: '{{source_workload}}.{{source_workload_namespace}} sent' },
    { expr: sumBy(SRC, rate('istio_tcp_received_bytes_total', IN)), legend: '{{source_workload}}.{{source_workload_namespace}} received' },
  ] },
  { title: 'Inbound TCP connections by source', kind: 'timeseries', unit: 'cps', w: 12, description: 'TCP connections opened per second by client workload.', targets: [
    { expr: sumBy(SRC, rate('istio_tcp_connections_opened_total', IN)), legend: '{{source_workload}}.{{source_workload_namespace}}' },
  ] },
];

const outbound: Panel[] = [
  { title: 'Outbound request rate', kind: 'stat', unit: 'reqps', w: 6, description: 'Requests per second the workload sends.', targets: [{ expr: sumBy([], rate('istio_requests_total', OUT)) }] },
  { title: 'Outbound success rate', kind: 'stat', unit: 'percentunit', w: 6, description: 'Share of the workload\'s requests answered without a 5xx.', targets: [{ expr: successRate(OUT) }] },
  { title: 'Outbound p99 latency', kind: 'stat', unit: 'ms', w: 6, description: '99th percentile of the duration of the workload\'s requests.', targets: [{ expr: quantile(0.99, 'istio_request_duration_milliseconds', OUT) }] },
  { title: 'Outbound TCP traffic', kind: 'stat', unit: 'Bps', w: 6, description: 'TCP bytes per second on the workload\'s connections.', targets: [{ expr: `${sumBy([], rate('istio_tcp_sent_bytes_total', OUT))} + ${sumBy([], rate('istio_tcp_received_bytes_total', OUT))}` }] },
  { title: 'Outbound requests by service and response code', kind: 'timeseries', unit: 'reqps', w: 12, description: 'Requests per second by destination service and status.', targets: [
    { expr: sumBy([...DST, 'response_code'], rate('istio_requests_total', OUT)), legend: '{{destination_service}} {{response_code}}' },
  ] },
  { title: 'Outbound latency by service (p50, p99)', kind: 'timeseries', unit: 'ms', w: 12, description: 'Request duration quantiles by destination service.', targets: [
    { expr: quantile(0.5, 'istio_request_duration_milliseconds', OUT, DST), legend: '{{destination_service}} p50' },
    { expr: quantile(0.99, 'istio_request_duration_milliseconds', OUT, DST), legend: '{{destination_service}} p99' },
  ] },
  { title: 'Outbound TCP bytes by service', kind: 'timeseries', unit: 'Bps', w: 12, description: 'Bytes per second the workload receives from and sends to each service.', targets: [
    { expr: sumBy(DST, rate('istio_tcp_sent_bytes_total', OUT)), legend: '{{destination_service}} received by the workload' },
    { expr: sumBy(DST, rate('istio_tcp_received_bytes_total', OUT)), legend: '{{destination_service}} sent by the workload' },
  ] },
  { title: 'Outbound TCP connections by service', kind: 'timeseries', unit: 'cps', w: 12, description: 'TCP connections opened per second by destination service.', targets: [
    { expr: sumBy(DST, rate('istio_tcp_connections_opened_total', OUT)), legend: '{{destination_service}}' },
  ] },
];

const namespaces =
  'sum by (destination_workload_namespace) (istio_requests_total) or sum by (source_workload_namespace) (istio_requests_total) or sum by (destination_workload_namespace) (istio_tcp_connections_opened_total)';
const workloads =
  'sum by (destination_workload) (istio_requests_total{destination_workload_namespace=~"$namespace"}) or sum by (source_workload) (istio_requests_total{source_workload_namespace=~"$namespace"}) or sum by (destination_workload) (istio_tcp_connections_opened_total{destination_workload_namespace=~"$namespace"}) or sum by (source_workload) (istio_tcp_connections_opened_total{source_workload_namespace=~"$namespace"})';

export const workload = dashboard({
  uid: 'nodemesh-workload',
  title: 'nodemesh / Workload',
  description: 'One workload: the requests and connections it serves (inbound) and the ones it makes (outbound).',
  variables: [
    datasourceVariable(),
    queryResult('namespace', 'Namespace', namespaces, '/_namespace="([^"]+)"/'),
    queryResult('workload', 'Workload', workloads, '/_workload="([^"]+)"/'),
    custom('reporter', 'Inbound reporter', ['source', 'destination']),
  ],
  rows: [
    { title: 'Inbound', panels: inbound },
    { title: 'Outbound', panels: outbound },
  ],
});
