// The mesh CA: Istio's IstioCertificateService/CreateCertificate plus grpc.health.v1 over TLS.
// Each call: bearer token → caller's node (a node token from the file, else TokenReview of a
// ServiceAccount token; UNAUTHENTICATED / PERMISSION_DENIED otherwise) → CSR parsed and its signature
// checked (INVALID_ARGUMENT) → the one URI SAN must be the identity of a workload on the caller's node,
// from the config's WorkloadEntries or the API's pods (PERMISSION_DENIED; UNAVAILABLE while the pod list
// is not synced yet) → leaf signed with a capped TTL, answered as [leaf, root].
//
// TLS simplification: instead of a separately provisioned serving certificate, the CA signs one for
// itself at every start with its own root (SANs `nodemesh-ca`, `localhost`, the listen IP and any
// extra names). Agents trust the root (`--ca-root`, a copy of root-cert.pem) and verify the server as
// `nodemesh-ca` whatever address they dial (see GrpcSigner).
import * as grpc from '@grpc/grpc-js';
import { isIP } from 'node:net';
import { isMeshError, MeshError } from '../errors';
import { certInfo, parseCsr, signLeaf, signServing, type CaMaterial } from '../identity/certs';
import { DEFAULT_TRUST_DOMAIN } from '../identity/spiffe';
import { logger } from '../log';
import { authorizeCsr, type TopologyWorkload } from './authz';
import {
  CA_SERVER_NAME,
  CERT_SERVICE,
  certServiceDefinition,
  healthServiceDefinition,
  IMPERSONATED_IDENTITY,
  structHas,
  structString,
  type CertRequest,
  type CertResponse,
  type ServingStatus,
} from './proto';
import { loadOrCreateRoot } from './store';
import type { CallerAuthenticator } from './caller';
import type { NodeWorkloads } from './pods';
import type { NodeTokens } from './tokens';

const log = logger('ca');

export { CA_SERVER_NAME };
export const DEFAULT_TTL_SECONDS = 24 * 3600;

export interface CaServerOptions {
  /** `host:port` (IPv6 as `[::1]:port`); port 0 picks a free one (see `port`). */
  readonly listen: string;
  /** Holds root-cert.pem and root-key.pem; created with a new root when empty. Unused with `root`. */
  readonly dir?: string;
  /** The root, loaded elsewhere (e.g. from a Kubernetes Secret). */
  readonly root?: CaMaterial;
  readonly trustDomain?: string;
  /** Node tokens (bearer token → node); checked first. */
  readonly tokens?: NodeTokens;
  /** For bearer tokens that are no node token: TokenReview of ServiceAccount tokens. */
  readonly authenticator?: CallerAuthenticator;
  /** Current workloads with their nodes (the config's); read on every request so reloads apply at once. */
  readonly topology?: () => readonly TopologyWorkload[];
  /** The pods from the API, by node. */
  readonly pods?: NodeWorkloads;
  /** TTL when the request asks for none (validity_duration <= 0); default 24 h. */
  readonly defaultTtlSeconds?: number;
  /** Longer requests are cut to this; default 24 h (shorter-lived credentials limit what a leak buys). */
  readonly maxTtlSeconds?: number;
  /** Extra DNS names or IPs for the serving certificate. */
  readonly serverNames?: readonly string[];
}

type Status = grpc.status;

class Refusal extends Error {
  constructor(
    readonly code: Status,
    message: string,
  ) {
    super(message);
  }
}

export class CaServer {
  private status: ServingStatus = 'SERVING';

  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
    readonly ca: CaMaterial,
    private readonly opts: CaServerOptions,
    private readonly trustDomain: string,
  ) {}

  get rootPem(): string {
    return this.ca.certPem;
  }

  static async start(opts: CaServerOptions): Promise<CaServer> {
    const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    const ca = opts.root ?? (opts.dir !== undefined ? (await loadOrCreateRoot(opts.dir, trustDomain)).ca : undefined);
    if (ca === undefined) throw new MeshError('CA_STORE', 'the CA needs a root: a directory or a loaded root');
    const host = listenHost(opts.listen);
    const extra = opts.serverNames ?? [];
    const ips = [...new Set(['127.0.0.1', ...(isIP(host) && !isUnspecified(host) ? [host] : []), ...extra.filter((n) => isIP(n))])];
    const dns = [...new Set([CA_SERVER_NAME, 'localhost', ...extra.filter((n) => !isIP(n))])];
    const serving = await signServing(ca, { dns, ips });
    const server = new grpc.Server();
    let self: CaServer | undefined;
    server.addService(certServiceDefinition(), {
      CreateCertificate: (call: grpc.ServerUnaryCall<CertRequest, CertResponse>, cb: grpc.sendUnaryData<CertResponse>) => {
        (self as CaServer).handleCreate(call).then(
          (res) => cb(null, res),
          (err: unknown) => cb(toServiceError(err)),
        );
      },
    });
    server.addService(healthServiceDefinition(), {
      Check: (call: grpc.ServerUnaryCall<{ service: string }, { status: ServingStatus }>, cb: grpc.sendUnaryData<{ status: ServingStatus }>) => {
        const svc = call.request.service;
        if (svc !== '' && svc !== CERT_SERVICE) return cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${svc}` });
        cb(null, { status: (self as CaServer).status });
      },
    });
    const creds = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(serving.keyPem), cert_chain: Buffer.from(serving.certPem) }], false);
    let port: number;
    try {
      port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(opts.listen, creds, (err, p) => (err ? reject(err) : resolve(p)));
      });
    } catch (e) {
      server.forceShutdown();
      throw new MeshError('LISTEN', `CA on ${opts.listen}: ${(e as Error).message}`, { listen: opts.listen }, { cause: e });
    }
    self = new CaServer(server, port, ca, opts, trustDomain);
    log.info({ listen: opts.listen, port, trustDomain, dns, ips }, 'CA serving');
    return self;
  }

  /** Reports NOT_SERVING, lets calls in flight finish for up to `graceMs`, then closes everything. */
  async stop(graceMs = 5000): Promise<void> {
    this.status = 'NOT_SERVING';
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private ttlFor(requested: number): number {
    const def = this.opts.defaultTtlSeconds ?? DEFAULT_TTL_SECONDS;
    const max = this.opts.maxTtlSeconds ?? DEFAULT_TTL_SECONDS;
    const want = Number.isFinite(requested) && requested > 0 ? Math.floor(requested) : def;
    return Math.max(1, Math.min(want, max));
  }

  private async handleCreate(call: grpc.ServerUnaryCall<CertRequest, CertResponse>): Promise<CertResponse> {
    const callerNode = await this.authenticate(call.metadata);
    const req = call.request;
    let uriSans: string[];
    try {
      ({ uriSans } = await parseCsr(req.csr));
    } catch (e) {
      if (isMeshError(e, 'BAD_CSR')) throw new Refusal(grpc.status.INVALID_ARGUMENT, e.message);
      throw e;
    }
    const impersonated = structHas(req.metadata, IMPERSONATED_IDENTITY) ? (structString(req.metadata, IMPERSONATED_IDENTITY) ?? null) : undefined;
    const pods = this.opts.pods;
    const decision = authorizeCsr({
      callerNode,
      requested: { uriSans, impersonatedIdentity: impersonated },
      workloads: [...(this.opts.topology?.() ?? []), ...(pods?.workloadsOn(callerNode) ?? [])],
      trustDomain: this.trustDomain,
      topologyComplete: pods === undefined || pods.synced,
    });
    if (!decision.ok) {
      log.warn({ code: decision.code, callerNode, requested: uriSans, impersonated, reason: decision.reason, peer: call.getPeer() }, 'certificate refused');
      throw new Refusal(grpc.status[decision.code], decision.reason);
    }
    const ttlSeconds = this.ttlFor(Number(req.validity_duration));
    const leaf = await signLeaf({ csrPem: req.csr, ca: this.ca, ttlSeconds, spiffeId: decision.identity });
    const info = certInfo(leaf);
    log.info({ callerNode, identity: decision.identity, serial: info.serial, ttlSeconds, notAfter: info.notAfter.toISOString() }, 'certificate issued');
    return { cert_chain: [leaf, this.ca.certPem] };
  }

  /** `authorization: Bearer <token>` → node name: a node token from the file, else the authenticator's answer. */
  private async authenticate(md: grpc.Metadata): Promise<string> {
    const values = md.get('authorization');
    if (values.length !== 1) throw new Refusal(grpc.status.UNAUTHENTICATED, values.length === 0 ? 'missing authorization metadata' : 'several authorization values');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(String(values[0]));
    if (!m) throw new Refusal(grpc.status.UNAUTHENTICATED, 'authorization must be "Bearer <token>"');
    const token = m[1] as string;
    const node = this.opts.tokens?.lookup(token);
    if (node !== undefined) return node;
    if (this.opts.authenticator === undefined) {
      log.warn({ reason: 'unknown token' }, 'caller not authenticated');
      throw new Refusal(grpc.status.UNAUTHENTICATED, 'unknown token');
    }
    const r = await this.opts.authenticator.authenticate(token);
    if (!r.ok) {
      log.warn({ code: r.code, reason: r.reason }, r.code === 'UNAVAILABLE' ? 'caller not checked now; it will retry' : 'caller refused');
      throw new Refusal(grpc.status[r.code], r.reason);
    }
    log.debug({ node: r.node, via: r.via }, 'caller authenticated by TokenReview');
    return r.node;
  }
}

function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  if (err instanceof Refusal) return { code: err.code, details: err.message };
  if (isMeshError(err, 'BAD_CSR')) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  log.error({ err }, 'CreateCertificate failed');
  return { code: grpc.status.INTERNAL, details: 'internal error' };
}

/** Host part of `host:port` / `[v6]:port`. */
export function listenHost(listen: string): string {
  const v6 = /^\[([^\]]+)\]:\d+$/.exec(listen);
  if (v6) return v6[1] as string;
  const i = listen.lastIndexOf(':');
  return i < 0 ? listen : listen.slice(0, i);
}

function isUnspecified(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}
