// The admin API's wire contract (proto/nodemesh/admin/v1/admin.proto), loaded as the CA's is: a
// protobufjs JSON descriptor through @grpc/proto-loader's fromJSON, since `tsc` copies no .proto files
// into dist. Fields are written compactly ('type id', 'repeated type id', 'map<k,v> id'); a unit test
// checks the descriptor against the .proto file. Message shapes below are as decoded (keepCase,
// 64-bit numbers as JS numbers, defaults filled in). No grpc-js here: it is loaded where it is used.
import { fromJSON, type PackageDefinition } from '@grpc/proto-loader';

export const PACKAGE = 'nodemesh.admin.v1';
export const STATS_SERVICE = `${PACKAGE}.Stats`;
export const CONFIG_SERVICE = `${PACKAGE}.Config`;
/** Istio's admin port; the agent binds it on 127.0.0.1 only. */
export const ADMIN_PORT = 15000;

type FieldJson = { type: string; id: number; rule?: 'repeated'; keyType?: string };

function fields(spec: Readonly<Record<string, string>>): { fields: Record<string, FieldJson> } {
  const out: Record<string, FieldJson> = {};
  for (const [name, s] of Object.entries(spec)) {
    const parts = s.split(' ');
    const id = Number(parts[parts.length - 1]);
    const map = /^map<(\w+),(\w+)>$/.exec(parts[0] as string);
    if (map) out[name] = { keyType: map[1] as string, type: map[2] as string, id };
    else if (parts[0] === 'repeated') out[name] = { rule: 'repeated', type: parts[1] as string, id };
    else out[name] = { type: parts[0] as string, id };
  }
  return { fields: out };
}

const rpc = (requestType: string, responseType: string): { requestType: string; responseType: string } => ({ requestType, responseType });

export const MESSAGES = {
  Stats: { methods: { Snapshot: rpc('SnapshotRequest', 'StatsSnapshot') } },
  Config: {
    methods: {
      Workloads: rpc('ConfigRequest', 'WorkloadList'),
      Services: rpc('ConfigRequest', 'ServiceList'),
      Policies: rpc('ConfigRequest', 'PolicyList'),
      Certificates: rpc('ConfigRequest', 'CertificateList'),
    },
  },
  SnapshotRequest: fields({}),
  ConfigRequest: fields({}),
  AgentInfo: fields({
    node: 'string 1', version: 'string 2', started_unix_ms: 'int64 3', now_unix_ms: 'int64 4',
    config_generation: 'uint64 5', config_hash: 'string 6', datapath: 'string 7', trust_domain: 'string 8',
  }),
  StatsSnapshot: fields({ agent: 'AgentInfo 1', duration_bounds_ms: 'repeated double 2', services: 'repeated ServiceStats 3', datapath_events: 'map<string,uint64> 4' }),
  ServiceStats: fields({
    host: 'string 1', name: 'string 2', namespace: 'string 3', reporter: 'string 4', dataplane: 'string 5',
    requests: 'RequestStats 6', tcp: 'TcpStats 7', kernel: 'KernelStats 8',
  }),
  RequestStats: fields({
    total: 'uint64 1', by_class: 'map<string,uint64> 2', success: 'uint64 3', errors: 'uint64 4', duration_buckets: 'repeated uint64 5',
    duration_sum_ms: 'double 6', p50_ms: 'double 7', p99_ms: 'double 8', request_bytes: 'double 9', response_bytes: 'double 10',
  }),
  TcpStats: fields({ opened: 'uint64 1', closed: 'uint64 2', active: 'uint64 3', sent_bytes: 'uint64 4', received_bytes: 'uint64 5' }),
  KernelStats: fields({
    present: 'bool 1', opened: 'uint64 2', closed: 'uint64 3', active: 'uint64 4', sent_bytes: 'uint64 5',
    received_bytes: 'uint64 6', redirected: 'uint64 7', spliced_bytes: 'uint64 8',
  }),
  WorkloadList: fields({ agent: 'AgentInfo 1', workloads: 'repeated WorkloadView 2' }),
  WorkloadView: fields({
    namespace: 'string 1', name: 'string 2', address: 'string 3', node: 'string 4', service_account: 'string 5',
    identity: 'string 6', protocol: 'string 7', local: 'bool 8', labels: 'map<string,string> 9',
  }),
  ServiceList: fields({ agent: 'AgentInfo 1', services: 'repeated ServiceView 2' }),
  ServiceView: fields({
    namespace: 'string 1', name: 'string 2', hosts: 'repeated string 3', addresses: 'repeated string 4', ports: 'repeated PortView 5',
    dataplane: 'string 6', resolution: 'string 7', location: 'string 8', endpoints: 'repeated EndpointView 9',
  }),
  PortView: fields({ number: 'uint32 1', name: 'string 2', protocol: 'string 3', target_port: 'uint32 4' }),
  EndpointView: fields({ address: 'string 1', workload: 'string 2', node: 'string 3', placement: 'string 4', weight: 'uint32 5', locality: 'string 6' }),
  PolicyList: fields({ agent: 'AgentInfo 1', policies: 'repeated PolicyView 2' }),
  PolicyView: fields({
    namespace: 'string 1', name: 'string 2', kind: 'string 3', action: 'string 4', scope: 'string 5',
    selector: 'map<string,string> 6', rules: 'uint32 7', dry_run: 'bool 8',
  }),
  CertificateList: fields({ agent: 'AgentInfo 1', certificates: 'repeated CertificateView 2' }),
  CertificateView: fields({
    identity: 'string 1', type: 'string 2', status: 'string 3', valid: 'bool 4', serial: 'string 5', not_before: 'string 6', not_after: 'string 7',
  }),
};

export const DESCRIPTOR = { nested: { nodemesh: { nested: { admin: { nested: { v1: { nested: MESSAGES } } } } } } };

let cached: PackageDefinition | undefined;

/** The package definition grpc-js takes (loadPackageDefinition, addService, makeClientConstructor). */
export function adminDefinition(): PackageDefinition {
  cached ??= fromJSON(DESCRIPTOR as unknown as Parameters<typeof fromJSON>[0], { keepCase: true, longs: Number, enums: String, defaults: true });
  return cached;
}

export interface AgentInfo {
  node: string;
  version: string;
  started_unix_ms: number;
  now_unix_ms: number;
  config_generation: number;
  config_hash: string;
  datapath: string;
  trust_domain: string;
}

export interface RequestStats {
  total: number;
  by_class: Record<string, number>;
  success: number;
  errors: number;
  duration_buckets: number[];
  duration_sum_ms: number;
  p50_ms: number;
  p99_ms: number;
  request_bytes: number;
  response_bytes: number;
}

export interface TcpStats {
  opened: number;
  closed: number;
  active: number;
  sent_bytes: number;
  received_bytes: number;
}

export interface KernelStats {
  present: boolean;
  opened: number;
  closed: number;
  active: number;
  sent_bytes: number;
  received_bytes: number;
  redirected: number;
  spliced_bytes: number;
}

export interface ServiceStats {
  host: string;
  name: string;
  namespace: string;
  reporter: string;
  dataplane: string;
  requests: RequestStats;
  tcp: TcpStats;
  kernel: KernelStats;
}

export interface StatsSnapshot {
  agent: AgentInfo;
  duration_bounds_ms: number[];
  services: ServiceStats[];
  datapath_events: Record<string, number>;
}

export interface WorkloadView {
  namespace: string;
  name: string;
  address: string;
  node: string;
  service_account: string;
  identity: string;
  protocol: string;
  local: boolean;
  labels: Record<string, string>;
}

export interface PortView {
  number: number;
  name: string;
  protocol: string;
  target_port: number;
}

export interface EndpointView {
  address: string;
  workload: string;
  node: string;
  placement: string;
  weight: number;
  locality: string;
}

export interface ServiceView {
  namespace: string;
  name: string;
  hosts: string[];
  addresses: string[];
  ports: PortView[];
  dataplane: string;
  resolution: string;
  location: string;
  endpoints: EndpointView[];
}

export interface PolicyView {
  namespace: string;
  name: string;
  kind: string;
  action: string;
  scope: string;
  selector: Record<string, string>;
  rules: number;
  dry_run: boolean;
}

export interface CertificateView {
  identity: string;
  type: string;
  status: string;
  valid: boolean;
  serial: string;
  not_before: string;
  not_after: string;
}

export interface WorkloadList {
  agent: AgentInfo;
  workloads: WorkloadView[];
}
export interface ServiceList {
  agent: AgentInfo;
  services: ServiceView[];
}
export interface PolicyList {
  agent: AgentInfo;
  policies: PolicyView[];
}
export interface CertificateList {
  agent: AgentInfo;
  certificates: CertificateView[];
}

/** The Config service's methods by the `nodemesh config` argument. */
export const CONFIG_KINDS = { workloads: 'Workloads', services: 'Services', policies: 'Policies', certs: 'Certificates' } as const;
export type ConfigKind = keyof typeof CONFIG_KINDS;
