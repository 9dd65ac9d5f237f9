// The main thread's part of the mesh between nodes: workload certificates (from the mesh CA, or an
// embedded one) for the workloads on this node, the JWKS of RequestAuthentications, and the kernel's
// inbound mTLS table. The proxy workers' MeshPlane (tunnel server, tunnel pool, inbound handler) gets
// the certificates and the keys from here: each is fetched once, however many workers there are.
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Registry } from 'prom-client';
import type { MeshConfig } from './config/model';
import { MeshError } from './errors';
import type { JSONWebKeySet } from 'jose';
import { CertManager } from './identity/manager';
import { JwksCache } from './identity/jwks';
import { securityMetrics } from './telemetry/security';
import type { HeldCerts } from './identity/mirror';
import { DeferredLocalSigner, GrpcSigner, type Signer } from './identity/signers';
import type { InboundMode } from './capture/layout';
import { logger } from './log';
import { Topology } from './state/topology';

const log = logger('mesh');

/** The address agents deliver to local pods from (Istio ambient uses the same one). */
export const DELIVERY_ADDRESS = '169.254.7.127';

export interface MeshIdentityOptions {
  node: string;
  trustDomain: string;
  /** The shared CA; without it the agent embeds one (single node, demo). */
  ca?: { address: string; rootFile: string; tokenFile: string };
  /** Lifetime asked of the CA for workload certificates (rotated at half-life). */
  certTtlSeconds?: number;
  /** The resolved delivery address (resolveDelivery), trusted as plaintext under STRICT. */
  delivery: string | undefined;
}

export interface InboundSink {
  syncInbound?(modes: readonly InboundMode[], trusted: readonly string[]): void;
}

/** Source address for deliveries to local pods; 'auto' = DELIVERY_ADDRESS when this host has it. */
export function resolveDelivery(setting: string): string | undefined {
  if (setting === 'none') return undefined;
  if (setting !== 'auto') return setting;
  const here = Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.address === DELIVERY_ADDRESS));
  return here ? DELIVERY_ADDRESS : undefined;
}

export class MeshIdentity {
  private topo: Topology | undefined;
  private readonly listeners: (() => void)[] = [];
  private readonly fetched: ((uri: string, keys: JSONWebKeySet | undefined) => void)[] = [];
  /** The JWKS every RequestAuthentication jwksUri names, fetched here once for all workers. */
  readonly jwks: JwksCache;

  private constructor(
    private readonly opts: MeshIdentityOptions,
    private readonly certs: CertManager,
    private readonly signer: Signer,
    private readonly sink: InboundSink,
    registry: Registry,
  ) {
    const changed = (): void => this.changed();
    certs.on('issued', changed);
    certs.on('rotated', changed);
    const failures = securityMetrics(registry).jwksFetchFailures;
    this.jwks = new JwksCache({
      // A rule without an issuer (allowed with jwksUri) is named by its URI.
      onFailure: (issuer, uri) => failures.inc({ issuer: issuer || uri }),
      onFetched: (uri, keys) => {
        for (const fn of this.fetched) fn(uri, keys);
      },
    });
  }

  static async start(opts: MeshIdentityOptions, registry: Registry, sink: InboundSink): Promise<MeshIdentity> {
    if (opts.ca) await untilExists(opts.ca.rootFile, '--ca-root');
    const signer: Signer = opts.ca
      ? new GrpcSigner({ address: opts.ca.address, rootPem: readFile(opts.ca.rootFile, '--ca-root'), token: () => readFile(opts.ca!.tokenFile, '--node-token').trim() })
      : new DeferredLocalSigner({ trustDomain: opts.trustDomain });
    // The embedded CA makes its root with the first certificate, which gives the manager its root too;
    // before that nothing can be served or dialled over a tunnel, so no root is needed.
    const certs = new CertManager({ signer, registry, ...(opts.ca ? { rootPem: readFile(opts.ca.rootFile, '--ca-root') } : {}), ...(opts.certTtlSeconds ? { ttlSeconds: opts.certTtlSeconds } : {}) });
    if (!opts.delivery) log.warn(`no delivery address (${DELIVERY_ADDRESS} is not on this host): STRICT cannot tell agent traffic from other plaintext`);
    return new MeshIdentity(opts, certs, signer, sink, registry);
  }

  /** Certificates for the workloads now on this node (fetched in the background), and the kernel table. */
  apply(config: MeshConfig, opts: { readonly partial?: boolean } = {}): void {
    const topo = new Topology(config, this.opts.node, this.opts.trustDomain);
    this.topo = topo;
    // Identities that left are dropped at once; new ones are announced as they are issued.
    void this.certs.ensure(topo.localIdentities()).then(() => this.changed());
    this.changed();
    // Every jwksUri the config names is fetched now and kept fresh; ones no longer named are dropped.
    const rules = (config.requestAuthentications ?? []).flatMap((p) => p.jwtRules);
    this.jwks.sync(rules.flatMap((r) => (r.jwksUri !== undefined ? [{ uri: r.jwksUri, issuer: r.issuer, timeoutMs: r.timeoutMs }] : [])));
    // A partial view (before discovery's first list) lacks the API's workloads: their STRICT modes stay.
    if (!opts.partial) this.sink.syncInbound?.(topo.inboundModes(), this.opts.delivery ? [this.opts.delivery] : []);
  }

  /** Calls FN after every JWKS fetch, with the keys then held for the URI. */
  onJwks(fn: (uri: string, keys: JSONWebKeySet | undefined) => void): void {
    this.fetched.push(fn);
  }

  /** Calls FN after every change of what is held (issue, rotation, drop). */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  /** The workload certificates held (or still awaited) and the root: for the workers and the admin API. */
  held(): HeldCerts {
    return { root: this.certs.rootPem(), held: this.certs.identities().map((identity) => ({ identity, material: this.certs.get(identity) })) };
  }

  /** Readiness reasons: certificates not yet issued for local workloads (multi-node only). */
  pending(): string[] {
    const topo = this.topo;
    if (!topo?.meshed) return [];
    const missing = topo.localIdentities().filter((id) => !this.certs.get(id));
    return missing.length ? [`waiting for certificates: ${missing.join(', ')}`] : [];
  }

  close(): void {
    this.jwks.close();
    this.certs.stop();
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
