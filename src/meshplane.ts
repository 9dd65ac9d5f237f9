// The mesh between nodes: workload certificates (from the mesh CA, or an embedded one), the HBONE tunnel
// server on :15008 with the inbound handler behind it, the tunnel pool for outbound connections to other
// nodes' pods, and the kernel's inbound mTLS table. Rebuilt views on every config apply.
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import type { Addr } from './capture/types';
import { endpointPort, type Endpoint, type MeshConfig } from './config/model';
import { MeshError } from './errors';
import { CertManager, type CertMaterial } from './identity/manager';
import { DeferredLocalSigner, GrpcSigner, type Signer } from './identity/signers';
import { InboundHandler } from './downstream/tunnel';
import { logger } from './log';
import { MeshAuthz } from './policy/authz';
import { JwksCache } from './identity/jwks';
import { securityMetrics } from './telemetry/security';
import type { RequestAuthn } from './config/model';
import { Topology, TUNNEL_PORT } from './state/topology';
import type { AccessLog } from './telemetry/accesslog';
import type { Metrics } from './telemetry/metrics';
import { TunnelPool } from './tunnel/client';
import { tunnelMetrics } from './tunnel/metrics';
import { startTunnelServer, type TunnelServer } from './tunnel/server';
import type { InboundMode } from './capture/layout';
import { REFUSE, TunnelRoutes, type TunnelRoute } from './upstream/tunnelsock';
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

/** The address agents deliver to local pods from (Istio ambient uses the same one). */
export const DELIVERY_ADDRESS = '169.254.7.127';

export interface MeshPlaneOptions {
  node: string;
  nodeIp: string;
  trustDomain: string;
  tunnelPort: number;
  /** The shared CA; without it the agent embeds one (single node, demo). */
  ca?: { address: string; rootFile: string; tokenFile: string };
  /** Source address for deliveries to local pods; 'auto' = DELIVERY_ADDRESS when this host has it. */
  deliveryAddress: string | 'auto' | 'none';
  connectTimeoutMs: number;
  /** Lifetime asked of the CA for workload certificates (rotated at half-life). */
  certTtlSeconds?: number;
  /** The destination side's access log (the agent's --access-log setting); default: on. */
  accessLog?: AccessLog;
  /** Proxies in front of clients (--trusted-proxies), for remoteIpBlocks; default 0. */
  trustedProxies?: number;
}

export interface InboundSink {
  syncInbound?(modes: readonly InboundMode[], trusted: readonly string[]): void;
}

function hasAddress(ip: string): boolean {
  return Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.address === ip));
}

export class MeshPlane {
  private topo: Topology;
  private authz = new MeshAuthz([]);
  private requestAuthns: readonly RequestAuthn[] = [];
  private server: TunnelServer | undefined;
  private readonly routes: TunnelRoutes;
  /** endpoint ip:port → how to reach it, for the tunnel routes' opener. */
  private endpoints = new Map<string, MeshEndpoint>();
  readonly delivery: string | undefined;

  private constructor(
    private readonly opts: MeshPlaneOptions,
    private readonly certs: CertManager,
    private readonly signer: Signer,
    private readonly pool: TunnelPool,
    private readonly inbound: InboundHandler,
    private readonly sink: InboundSink,
    delivery: string | undefined,
    private readonly jwks: JwksCache,
  ) {
    this.topo = new Topology({ services: [], workloads: [], nodes: [], peerAuthentications: [], authorizationPolicies: [], source: { files: [], hash: '' } }, opts.node, opts.trustDomain);
    this.delivery = delivery;
    this.routes = new TunnelRoutes((route) => this.openRoute(route));
  }

  static async start(opts: MeshPlaneOptions, metrics: Metrics, registry: Registry, sink: InboundSink): Promise<MeshPlane> {
    if (opts.ca) await untilExists(opts.ca.rootFile, '--ca-root');
    const signer: Signer = opts.ca
      ? new GrpcSigner({ address: opts.ca.address, rootPem: readFile(opts.ca.rootFile, '--ca-root'), token: () => readFile(opts.ca!.tokenFile, '--node-token').trim() })
      : new DeferredLocalSigner({ trustDomain: opts.trustDomain });
    // The embedded CA makes its root with the first certificate, which gives the manager its root too;
    // before that nothing can be served or dialled over a tunnel, so no root is needed.
    const rootPem = opts.ca ? readFile(opts.ca.rootFile, '--ca-root') : '';
    const certs = new CertManager({ signer, registry, ...(opts.ca ? { rootPem } : {}), ...(opts.certTtlSeconds ? { ttlSeconds: opts.certTtlSeconds } : {}) });
    const tm = tunnelMetrics(registry);
    const pool = new TunnelPool({
      certFor: (id) => certs.keyCert(id),
      rootPem: () => certs.rootPem() ?? rootPem,
      trustDomain: opts.trustDomain,
      connectTimeoutMs: opts.connectTimeoutMs,
      metrics: tm.pool,
    });
    const delivery = opts.deliveryAddress === 'none' ? undefined : opts.deliveryAddress === 'auto' ? (hasAddress(DELIVERY_ADDRESS) ? DELIVERY_ADDRESS : undefined) : opts.deliveryAddress;
    let plane: MeshPlane | undefined;
    const failures = securityMetrics(registry).jwksFetchFailures;
    // A rule without an issuer (allowed with jwksUri) is named by its URI.
    const jwks = new JwksCache({ onFailure: (issuer, uri) => failures.inc({ issuer: issuer || uri }) });
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
    plane = new MeshPlane(opts, certs, signer, pool, inbound, sink, delivery, jwks);
    certs.on('rotated', () => pool.rotate());
    plane.server = await startTunnelServer({
      host: opts.nodeIp,
      port: opts.tunnelPort,
      trustDomain: opts.trustDomain,
      certFor: (id) => (id !== undefined && plane!.topo.isLocalIdentity(id) ? certs.keyCert(id) : undefined),
      rootPem: () => certs.rootPem() ?? rootPem,
      isLocalTarget: (a) => plane!.topo.isLocalIp(a.address),
      onStream: (ctx) => inbound.onStream(ctx),
      metrics: tm.server,
    }).catch((e: unknown) => {
      // A port clash (EADDRINUSE...) names the address and the flag that chose it, like the other listeners.
      if ((e as NodeJS.ErrnoException).syscall !== 'listen') throw e;
      const where = `${opts.nodeIp}:${opts.tunnelPort}`;
      throw new MeshError('LISTEN', `tunnel ${where} (--tunnel-port): ${(e as Error).message}`, { host: opts.nodeIp, port: opts.tunnelPort, flag: 'tunnel-port' }, { cause: e });
    });
    log.info({ tunnel: plane.server.address(), ca: opts.ca?.address ?? 'embedded', delivery: delivery ?? 'none' }, 'mesh plane up');
    if (!delivery) log.warn(`no delivery address (${DELIVERY_ADDRESS} is not on this host): STRICT cannot tell agent traffic from other plaintext`);
    return plane;
  }

  /** New config: topology and policy views, certificates for the workloads now on this node, kernel table, tunnel routes. */
  async apply(config: MeshConfig, opts: { readonly partial?: boolean } = {}): Promise<void> {
    const topo = new Topology(config, this.opts.node, this.opts.trustDomain);
    this.topo = topo;
    this.authz = new MeshAuthz(config.authorizationPolicies);
    this.requestAuthns = config.requestAuthentications ?? [];
    // Every jwksUri the config names is fetched now and kept fresh; ones no longer named are dropped.
    this.jwks.sync(this.requestAuthns.flatMap((p) => p.jwtRules.flatMap((r) => (r.jwksUri !== undefined ? [{ uri: r.jwksUri, issuer: r.issuer, timeoutMs: r.timeoutMs }] : []))));
    this.inbound.configChanged();
    void this.certs.ensure(topo.localIdentities());
    // A partial view (before discovery's first list) lacks the API's workloads: their STRICT modes stay.
    if (!opts.partial) this.sink.syncInbound?.(topo.inboundModes(), this.delivery ? [this.delivery] : []);
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

  /** How the outbound proxy's picked endpoints are delivered under the current config (metric labels). */
  deliveries(): DeliveryView {
    return deliveryView(this.topo, this.endpoints);
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
    // identity to tunnel with, so the connection is refused and the client sees 503 UF.
    const identity = this.topo.isLocalIp(clientIp) ? this.identityAt(this.topo, clientIp) : undefined;
    if (identity === undefined) return REFUSE;
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



  /** The workload certificates held (or still awaited) and the root, for the admin API. */
  certificates(): { readonly root: string | undefined; readonly held: readonly { readonly identity: string; readonly material: CertMaterial | undefined }[] } {
    return { root: this.certs.rootPem(), held: this.certs.identities().map((identity) => ({ identity, material: this.certs.get(identity) })) };
  }

  /** Readiness reasons: certificates not yet issued for local workloads (multi-node only). */
  pending(): string[] {
    if (!this.topo.meshed) return [];
    const missing = this.topo.localIdentities().filter((id) => !this.certs.get(id));
    return missing.length ? [`waiting for certificates: ${missing.join(', ')}`] : [];
  }

  async close(): Promise<void> {
    this.routes.close();
    this.jwks.close();
    this.certs.stop();
    this.inbound.close();
    await this.pool.close();
    await this.server?.close(1000);
    (this.signer as { close?: () => void }).close?.();
  }
}

/**
 * In a cluster the CA publishes its root in a ConfigMap that the kubelet mounts, possibly after the agent
 * started (the volume is optional): the agent waits for it, unready, rather than exit and crash-loop.
 */
async function untilExists(file: string, flag: string): Promise<void> {
  if (fs.existsSync(file)) return;
  log.warn({ file }, `${flag} ${file} does not exist yet; waiting for it (the CA publishes its root certificate there)`);
  while (!fs.existsSync(file)) await new Promise((r) => setTimeout(r, 1000));
  log.info({ file }, `${flag} ${file} is there`);
}

function readFile(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new MeshError('USAGE', `${flag} ${file}: ${(e as Error).message}`);
  }
}
