// A proxy worker's part of the mesh between nodes: the HBONE tunnel server on :15008 (every worker
// binds it with SO_REUSEPORT) with the inbound handler behind it, and the tunnel pool for outbound
// connections to other nodes' pods. Certificates come from the main thread (meshidentity.ts, posted
// into a CertMirror). Rebuilt views on every config apply.
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import type { Addr } from './capture/types';
import { endpointPort, type Endpoint, type MeshConfig } from './config/model';
import { MeshError } from './errors';
import type { CertSource } from './identity/mirror';
import { InboundHandler } from './downstream/tunnel';
import { logger } from './log';
import { MeshAuthz } from './policy/authz';
import type { JwksSource } from './identity/jwks-mirror';
import type { RequestAuthn } from './config/model';
import { Topology, TUNNEL_PORT } from './state/topology';
import type { AccessLog } from './telemetry/accesslog';
import type { Metrics } from './telemetry/metrics';
import { TunnelPool } from './tunnel/client';
import { tunnelMetrics } from './tunnel/metrics';
import { startTunnelServer, type TunnelServer } from './tunnel/server';
import { refusedRoute, TunnelRoutes, type TunnelRoute } from './upstream/tunnelsock';
import { identityAllowed, mergeSubjectAltNames } from './tunnel/sans';
import { deliveryView } from './state/delivery';
import type { DeliveryView } from './telemetry/reporters';

/** A mesh endpoint: the agent that reaches it, and the identities its services allow (undefined: any). */
interface MeshEndpoint {
  readonly endpoint: Endpoint;
  readonly agent: Addr;
  readonly subjectAltNames: readonly string[] | undefined;
}

const log = logger('mesh');

export interface MeshPlaneOptions {
  node: string;
  nodeIp: string;
  trustDomain: string;
  tunnelPort: number;
  /** Source address for deliveries to local pods (meshidentity.ts resolveDelivery); undefined: none. */
  delivery: string | undefined;
  connectTimeoutMs: number;
  /** The destination side's access log (the agent's --access-log setting); default: on. */
  accessLog?: AccessLog;
  /** Proxies in front of clients (--trusted-proxies), for remoteIpBlocks; default 0. */
  trustedProxies?: number;
}

export class MeshPlane {
  private topo: Topology;
  /** Local client IP → its workload's SPIFFE id under the current topology (asked per request). */
  private clientIdentities = new Map<string, string | undefined>();
  private authz = new MeshAuthz([]);
  private requestAuthns: readonly RequestAuthn[] = [];
  private server: TunnelServer | undefined;
  private readonly routes: TunnelRoutes;
  /** endpoint ip:port → how to reach it, for the tunnel routes' opener. */
  private endpoints = new Map<string, MeshEndpoint>();
  readonly delivery: string | undefined;

  private constructor(
    private readonly opts: MeshPlaneOptions,
    private readonly pool: TunnelPool,
    private readonly inbound: InboundHandler,
    delivery: string | undefined,
  ) {
    this.topo = new Topology({ services: [], workloads: [], nodes: [], peerAuthentications: [], authorizationPolicies: [], source: { files: [], hash: '' } }, opts.node, opts.trustDomain);
    this.delivery = delivery;
    this.routes = new TunnelRoutes((route) => this.openRoute(route));
  }

  static async start(opts: MeshPlaneOptions, certs: CertSource, jwks: JwksSource, metrics: Metrics, registry: Registry): Promise<MeshPlane> {
    const tm = tunnelMetrics(registry);
    const pool = new TunnelPool({
      certFor: (id) => certs.keyCert(id),
      rootPem: () => certs.rootPem() ?? '',
      trustDomain: opts.trustDomain,
      connectTimeoutMs: opts.connectTimeoutMs,
      metrics: tm.pool,
    });
    const delivery = opts.delivery;
    let plane: MeshPlane | undefined;
    const inbound = new InboundHandler({
      topology: () => plane!.topo,
      authz: () => plane!.authz,
      requestAuthns: () => plane!.requestAuthns,
      jwks,
      trustedProxies: opts.trustedProxies ?? 0,
      metrics,
      deliveryAddress: delivery,
      connectTimeoutMs: opts.connectTimeoutMs,
      ...(opts.accessLog !== undefined ? { accessLog: opts.accessLog } : {}),
    });
    plane = new MeshPlane(opts, pool, inbound, delivery);
    certs.on('rotated', () => pool.rotate());
    plane.server = await startTunnelServer({
      host: opts.nodeIp,
      port: opts.tunnelPort,
      trustDomain: opts.trustDomain,
      certFor: (id) => (id !== undefined && plane!.topo.isLocalIdentity(id) ? certs.keyCert(id) : undefined),
      rootPem: () => certs.rootPem() ?? '',
      isLocalTarget: (a) => plane!.topo.isLocalIp(a.address),
      onStream: (ctx) => inbound.onStream(ctx),
      metrics: tm.server,
    }).catch((e: unknown) => {
      // A port clash (EADDRINUSE...) names the address and the flag that chose it, like the other listeners.
      if ((e as NodeJS.ErrnoException).syscall !== 'listen') throw e;
      const where = `${opts.nodeIp}:${opts.tunnelPort}`;
      throw new MeshError('LISTEN', `tunnel ${where} (--tunnel-port): ${(e as Error).message}`, { host: opts.nodeIp, port: opts.tunnelPort, flag: 'tunnel-port' }, { cause: e });
    });
    log.debug({ tunnel: plane.server.address(), delivery: delivery ?? 'none' }, 'mesh plane up');
    return plane;
  }

  /** New config: topology and policy views, tunnel routes. */
  apply(config: MeshConfig): void {
    const topo = new Topology(config, this.opts.node, this.opts.trustDomain);
    this.topo = topo;
    this.clientIdentities = new Map();
    this.authz = new MeshAuthz(config.authorizationPolicies);
    this.requestAuthns = config.requestAuthentications ?? [];
    this.inbound.configChanged();
    // Every endpoint on a known node is reached through a tunnel, the node's own included, so the
    // destination side (authorization, STRICT, metrics) is one code path.
    const endpoints = new Map<string, MeshEndpoint>();
    const sans = new Map<string, (readonly string[] | undefined)[]>();
    const self = this.server?.address();
    for (const svc of config.services) {
      // MESH_EXTERNAL endpoints are outside the mesh: dialled directly, never through a tunnel.
      if (svc.dataplane !== 'proxy' || svc.location === 'MESH_EXTERNAL') continue;
      for (const port of svc.ports) {
        for (const ep of svc.endpoints) {
          const where = topo.placement(ep);
          if (where.kind === 'direct' || (where.kind === 'local' && !self)) continue;
          const agent = where.kind === 'remote' ? { address: where.agent, port: TUNNEL_PORT } : self!;
          const key = `${ep.address}:${endpointPort(ep, port)}`;
          const lists = sans.get(key) ?? [];
          lists.push(svc.subjectAltNames);
          sans.set(key, lists);
          endpoints.set(key, { endpoint: ep, agent, subjectAltNames: mergeSubjectAltNames(lists) });
        }
      }
    }
    this.endpoints = endpoints;
    // Routes of clients or endpoints that are gone are forgotten; the others stay (made on first use).
    this.routes.retain((r) => endpoints.has(`${r.target.address}:${r.target.port}`) && topo.isLocalIp(r.client.address) && this.identityAt(topo, r.client.address) === r.identity);
  }

  /** Where this worker's tunnel listener is bound. */
  tunnelAddress(): Addr | undefined {
    return this.server?.address();
  }

  /** How the outbound proxy's picked endpoints are delivered under the current config (metric labels). */
  deliveries(): DeliveryView {
    return deliveryView(this.topo, this.endpoints);
  }

  private clientIdentity(ip: string): string | undefined {
    if (this.clientIdentities.has(ip)) return this.clientIdentities.get(ip);
    const id = this.identityAt(this.topo, ip);
    this.clientIdentities.set(ip, id);
    return id;
  }

  private identityAt(topo: Topology, ip: string): string | undefined {
    const w = topo.workloadByIp(ip);
    return w ? topo.identityOf(w) : undefined;
  }

  /**
   * Where the outbound proxy should dial for `target` when `clientIp` is the caller: a tunnel route
   * (dialled in-process, upstream/tunnelsock.ts) for mesh endpoints and known clients, undefined to
   * dial the endpoint directly.
   */
  upstreamFor(clientIp: string, target: Addr): Addr | undefined {
    if (!this.endpoints.has(`${target.address}:${target.port}`)) return undefined;
    // A mesh endpoint is never dialled in plaintext: a client that is not a local workload has no
    // identity to tunnel with, so the connection is refused (503 UF, NM_E_NOT_MESH_WORKLOAD saying why).
    const identity = this.topo.isLocalIp(clientIp) ? this.clientIdentity(clientIp) : undefined;
    if (identity === undefined) return refusedRoute(clientIp, target);
    return this.routes.ensure({ identity, target, client: { address: clientIp, port: 0 } });
  }

  private openRoute(route: TunnelRoute): Promise<Duplex> {
    const e = this.endpoints.get(`${route.target.address}:${route.target.port}`);
    if (!e) return Promise.reject(new MeshError('TUNNEL_CONNECT', `no mesh route to ${route.target.address}:${route.target.port}`));
    const identity = this.topo.identityOf(e.endpoint);
    if (!identityAllowed(identity, e.subjectAltNames)) {
      const expected = e.subjectAltNames ?? [];
      return Promise.reject(new MeshError('TUNNEL_TLS', `endpoint ${route.target.address}:${route.target.port} has identity ${identity}, expected ${expected.join(' or ')} (ServiceEntry subjectAltNames)`, { peerIdentity: identity, expected }));
    }
    return this.pool.open({
      sourceIdentity: route.identity,
      destinationIdentities: [identity],
      node: e.agent,
      target: route.target,
      forwardedFor: route.client,
    });
  }



  async close(): Promise<void> {
    this.routes.close();
    this.inbound.close();
    await this.pool.close();
    await this.server?.close(1000);
  }
}
