// The admin API on 127.0.0.1:15000 (Istio's admin port): gRPC services Stats and Config
// (proto/nodemesh/admin/v1/admin.proto) for `nodemesh stat` and `nodemesh config`. The socket is the
// agent's own (SO_REUSEPORT, as every agent listener, so a next agent binds beside a draining one);
// grpc-js serves the connections handed to it, and is loaded with the first one (with the schema it
// costs an idle agent about 5 MiB that most agents, never asked, would keep for nothing).
import * as net from 'node:net';
import type { Addr, Datapath } from '../capture/types';
import type { MeshConfig, Service } from '../config/model';
import { packageVersion } from '../version';
import { MeshError } from '../errors';
import { logger } from '../log';
import { certificateViews, policyViews, serviceViews, workloadViews, type HeldCertificates } from './admin-config';
import type { AgentInfo, StatsSnapshot } from './admin-proto';
import { serviceStats, type IstioSeries } from './admin-stats';
import { DURATION_BUCKETS_MS } from './metrics';

const log = logger('admin');

/** What the admin API reads of the agent, all at call time. */
export interface AdminSource {
  readonly node: string;
  readonly trustDomain: string;
  readonly startedAt: number;
  /** The Istio series of every proxy worker (the stats sum them per service). */
  series(): Promise<IstioSeries>;
  config(): MeshConfig | undefined;
  /** Configs applied since start. */
  generation(): number;
  datapath(): Datapath | undefined;
  datapathEvents(): Record<string, number>;
  certificates(): HeldCertificates;
}

export interface AdminApi {
  readonly address: Addr;
  close(): Promise<void>;
}

export function agentInfo(src: AdminSource, now = Date.now()): AgentInfo {
  return {
    node: src.node,
    version: packageVersion() ?? 'unknown',
    started_unix_ms: src.startedAt,
    now_unix_ms: now,
    config_generation: src.generation(),
    config_hash: src.config()?.source.hash.slice(0, 12) ?? '',
    datapath: src.datapath()?.mode ?? 'none',
    trust_domain: src.trustDomain,
  };
}

export async function snapshot(src: AdminSource): Promise<StatsSnapshot> {
  const cfg = src.config();
  const byId = new Map<number, Service>();
  const byKey = new Map<string, Service>();
  for (const s of cfg?.services ?? []) (byId.set(s.id, s), byKey.set(s.key, s));
  const series = await src.series();
  let kernel: ReturnType<Datapath['counters']> = [];
  try {
    kernel = src.datapath()?.counters() ?? [];
  } catch (err) {
    log.warn({ err }, 'reading the kernel counters failed; the answer has none');
  }
  const services = serviceStats({
    series,
    durationBounds: DURATION_BUCKETS_MS,
    kernel,
    serviceById: (id) => byId.get(id),
    serviceByKey: (key) => byKey.get(key),
  });
  return { agent: agentInfo(src), duration_bounds_ms: [...DURATION_BUCKETS_MS], services, datapath_events: { ...src.datapathEvents() } };
}

type Answer = (call: unknown, callback: (err: Error | null, value?: unknown) => void) => void;

/** A unary handler; a thrown error becomes an INTERNAL status with its message. */
function unary(make: () => unknown): Answer {
  return (_call, callback) => {
    const fail = (err: unknown): void => {
      log.error({ err }, 'admin API call failed');
      callback(Object.assign(new Error((err as Error).message), { code: 13 }));
    };
    try {
      Promise.resolve(make()).then((v) => callback(null, v), fail);
    } catch (err) {
      fail(err);
    }
  };
}

type Injector = { injectConnection(socket: net.Socket): void; destroy(): void };
type Served = { readonly server: { forceShutdown(): void }; readonly injector: Injector };

/** grpc-js, the schema and the services, made on the first connection. */
function serveGrpc(src: AdminSource): Served {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const grpc = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { adminDefinition, CONFIG_SERVICE, STATS_SERVICE } = require('./admin-proto') as typeof import('./admin-proto');
  const def = adminDefinition();
  const server = new grpc.Server();
  const config = (): MeshConfig => src.config() ?? { services: [], workloads: [], nodes: [], peerAuthentications: [], authorizationPolicies: [], source: { files: [], hash: '' } };
  server.addService(def[STATS_SERVICE] as import('@grpc/grpc-js').ServiceDefinition, { Snapshot: unary(() => snapshot(src)) });
  server.addService(def[CONFIG_SERVICE] as import('@grpc/grpc-js').ServiceDefinition, {
    Workloads: unary(() => ({ agent: agentInfo(src), workloads: workloadViews(config(), src.node, src.trustDomain) })),
    Services: unary(() => ({ agent: agentInfo(src), services: serviceViews(config(), src.node, src.trustDomain) })),
    Policies: unary(() => ({ agent: agentInfo(src), policies: policyViews(config()) })),
    Certificates: unary(() => ({ agent: agentInfo(src), certificates: certificateViews(src.certificates(), Date.now()) })),
  });
  return { server, injector: server.createConnectionInjector(grpc.ServerCredentials.createInsecure()) };
}

/** Listens on 127.0.0.1:PORT (0: any free port). */
export async function startAdminApi(port: number, src: AdminSource): Promise<AdminApi> {
  let served: Served | undefined;
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    try {
      served ??= serveGrpc(src);
    } catch (err) {
      log.error({ err }, 'admin API could not start serving');
      socket.destroy();
      return;
    }
    // What the client sent already is in the socket's buffer; the HTTP/2 session reads it from there.
    served.injector.injectConnection(socket);
  });
  const host = '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    listener.once('error', (err) => reject(new MeshError('LISTEN', `admin API ${host}:${port} (--admin-port): ${err.message}`, { host, port, flag: 'admin-port' }, { cause: err })));
    listener.listen({ host, port, reusePort: true }, () => {
      listener.on('error', (err) => log.error({ err }, 'admin API listener error'));
      resolve();
    });
  });
  const a = listener.address() as net.AddressInfo;
  log.info({ address: `${a.address}:${a.port}` }, 'admin API listening');
  return {
    address: { address: a.address, port: a.port },
    close: () =>
      new Promise<void>((resolve) => {
        listener.close(() => resolve());
        served?.injector.destroy();
        served?.server.forceShutdown();
        for (const s of sockets) s.destroy();
      }),
  };
}

/** The agent's handle: bound in the background, so a port held by another process never stops the agent. */
export interface AdminApiHandle {
  /** Where it listens, once bound. */
  address(): Addr | undefined;
  /** Resolves once bound (or given up: closed first, or a bind error other than "in use", which is logged). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export function serveAdminApi(port: number, src: AdminSource): AdminApiHandle {
  let api: AdminApi | undefined;
  let closed = false;
  const ready = (async (): Promise<void> => {
    let lastLog = 0;
    while (!closed) {
      try {
        const a = await startAdminApi(port, src);
        if (closed) await a.close();
        else api = a;
        return;
      } catch (err) {
        const inUse = ((err as { cause?: NodeJS.ErrnoException }).cause ?? (err as NodeJS.ErrnoException)).code === 'EADDRINUSE';
        if (!inUse) {
          log.error({ err }, 'the admin API is off: nodemesh stat and nodemesh config cannot reach this agent');
          return;
        }
        if (Date.now() - lastLog >= 30_000) {
          lastLog = Date.now();
          log.warn({ err: (err as Error).message }, 'admin API port in use by a process that does not share it; retrying');
        }
        await new Promise((r) => setTimeout(r, 1000).unref());
      }
    }
  })();
  return {
    address: () => api?.address,
    ready,
    close: async () => {
      closed = true;
      await ready;
      await api?.close();
      api = undefined;
    },
  };
}
