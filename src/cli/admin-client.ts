// The client side of the agent's admin API for `nodemesh stat` and `nodemesh config`: one channel, a
// deadline per call, and failures turned into one message that names the address and what to check.
import type * as grpcTypes from '@grpc/grpc-js';
import { MeshError } from '../errors';
import type { CertificateList, ConfigKind, PolicyList, ServiceList, StatsSnapshot, WorkloadList } from '../telemetry/admin-proto';

export interface ConfigAnswers {
  workloads: WorkloadList;
  services: ServiceList;
  policies: PolicyList;
  certs: CertificateList;
}

export interface AdminClient {
  readonly address: string;
  snapshot(): Promise<StatsSnapshot>;
  config<K extends ConfigKind>(kind: K): Promise<ConfigAnswers[K]>;
  close(): void;
}

type Unary = (req: object, meta: grpcTypes.Metadata, opts: grpcTypes.CallOptions, cb: (err: grpcTypes.ServiceError | null, res?: unknown) => void) => void;

/** The message for a failed call: what happened at ADDRESS, and what to do about it. Pure. */
export function unreachable(address: string, code: number | undefined, details: string): MeshError {
  const hint =
    `is the agent running on this node with its admin API on (nodemesh agent --admin-port, default 15000; not --no-admin-api)? ` +
    `Point at it with --admin-address HOST:PORT`;
  // 12 UNIMPLEMENTED: something answers gRPC there, but not this API.
  if (code === 12) return new MeshError('ADMIN_UNREACHABLE', `${address} answers gRPC but not the nodemesh admin API (${details}); ${hint}`, { address, code });
  return new MeshError('ADMIN_UNREACHABLE', `${address}: ${why(code, details)}; ${hint}`, { address, code });
}

/** grpc-js's details ("No connection established. Last error: Error: connect ECONNREFUSED ...") made short. */
function why(code: number | undefined, details: string): string {
  const errno = /\b(E[A-Z]{3,})\b/.exec(details)?.[1];
  if (errno === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  if (errno !== undefined) return `cannot connect (${errno})`;
  // 4 DEADLINE_EXCEEDED
  if (code === 4) return 'no answer in time';
  return details.trim() || 'no answer';
}

export async function connectAdmin(address: string, timeoutMs = 3000): Promise<AdminClient> {
  const grpc = await import('@grpc/grpc-js');
  const { adminDefinition, CONFIG_KINDS, CONFIG_SERVICE, STATS_SERVICE } = await import('../telemetry/admin-proto');
  const def = adminDefinition();
  const creds = grpc.credentials.createInsecure();
  const Stats = grpc.makeClientConstructor(def[STATS_SERVICE] as grpcTypes.ServiceDefinition, 'Stats');
  const Config = grpc.makeClientConstructor(def[CONFIG_SERVICE] as grpcTypes.ServiceDefinition, 'Config');
  const stats = new Stats(address, creds);
  // One channel for both services.
  const config = new Config(address, creds, { channelOverride: stats.getChannel() });
  const call = <T>(client: grpcTypes.Client, method: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const fn = (client as unknown as Record<string, Unary>)[method] as Unary;
      fn.call(client, {}, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(unreachable(address, err.code, err.details || err.message));
        else resolve(res as T);
      });
    });
  return {
    address,
    snapshot: () => call<StatsSnapshot>(stats, 'Snapshot'),
    config: <K extends ConfigKind>(kind: K) => call<ConfigAnswers[K]>(config, CONFIG_KINDS[kind]),
    close: () => {
      config.close();
      stats.close();
    },
  };
}
