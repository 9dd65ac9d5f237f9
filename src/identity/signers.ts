// Where a node agent gets its workload certificates signed: the mesh CA over gRPC (GrpcSigner), or an
// embedded CA for a single node or a demo (LocalSigner). Both answer [leaf, ..., root] like Istio's CA.
// The gRPC client and the X.509 code are loaded on first use: an agent with no workload to certify
// never loads them.
import type * as grpc from '@grpc/grpc-js';
import type { CertRequest, CertResponse } from '../ca/proto';
import { isMeshError, MeshError } from '../errors';
import type { CaMaterial } from './certs';
import { checkTrustDomain, DEFAULT_TRUST_DOMAIN } from './spiffe';

export interface Signer {
  /** Signs a CSR for `identity`; resolves with the chain, leaf first and root last. */
  sign(csrPem: string, ttlSeconds: number, identity: string): Promise<string[]>;
  close?(): void;
}

/**
 * Why a signature failed, as the `reason` label of nodemesh_cert_errors_total and `details.reason` of
 * the NM_E_CERT_FETCH error the signers throw.
 */
export type SignFailure = 'unavailable' | 'unauthenticated' | 'denied' | 'invalid_request' | 'invalid_response' | 'ca_error';

export function signFailure(reason: SignFailure, message: string, extra: Record<string, unknown> = {}, cause?: unknown): MeshError {
  return new MeshError('CERT_FETCH', message, { reason, ...extra }, cause === undefined ? undefined : { cause });
}

export function failureReason(err: unknown): SignFailure {
  if (isMeshError(err, 'CERT_FETCH')) return (err.details.reason as SignFailure | undefined) ?? 'ca_error';
  return 'ca_error';
}

export interface GrpcSignerOptions {
  /** `host:port` of the CA. */
  readonly address: string;
  /** PEM of the CA's root: the CA's TLS certificate is checked against it. */
  readonly rootPem: string;
  /** Node token; a function is called per request so a rotated token file is picked up. */
  readonly token: string | (() => string);
  /** Name the CA's certificate must carry; default `nodemesh-ca` whatever address is dialled. */
  readonly serverName?: string;
  /** Per-call deadline; default 10 s. */
  readonly timeoutMs?: number;
}

/** grpc.status values (stable across gRPC implementations), so failures map without loading grpc-js. */
const STATUS = { CANCELLED: 1, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;
const UNAVAILABLE_CODES = new Set<number>([STATUS.UNAVAILABLE, STATUS.DEADLINE_EXCEEDED, STATUS.CANCELLED, STATUS.RESOURCE_EXHAUSTED]);

function reasonOf(code: number): SignFailure {
  if (UNAVAILABLE_CODES.has(code)) return 'unavailable';
  if (code === STATUS.UNAUTHENTICATED) return 'unauthenticated';
  if (code === STATUS.PERMISSION_DENIED) return 'denied';
  if (code === STATUS.INVALID_ARGUMENT) return 'invalid_request';
  return 'ca_error';
}

interface Connected {
  readonly grpc: typeof grpc;
  readonly proto: typeof import('../ca/proto');
  readonly client: grpc.Client;
}

export class GrpcSigner implements Signer {
  /** The client, made on the first request (grpc-js and the CA's schema load then). */
  private connected: Promise<Connected> | undefined;
  private closed = false;
  private readonly timeoutMs: number;

  constructor(private readonly opts: GrpcSignerOptions) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  private connect(): Promise<Connected> {
    this.connected ??= (async () => {
      const [g, proto] = await Promise.all([import('@grpc/grpc-js'), import('../ca/proto')]);
      const name = this.opts.serverName ?? proto.CA_SERVER_NAME;
      const client = new proto.CertClient(this.opts.address, g.credentials.createSsl(Buffer.from(this.opts.rootPem)), {
        // Verify the CA as `name` while dialling an IP (the node agents reach the CA by a Service IP).
        'grpc.ssl_target_name_override': name,
        'grpc.default_authority': name,
        // Reconnect quickly after a CA restart; the CertManager does its own, longer backoff per identity.
        'grpc.initial_reconnect_backoff_ms': 500,
        'grpc.max_reconnect_backoff_ms': 10_000,
      });
      // close() ran while the client was being made.
      if (this.closed) client.close();
      return { grpc: g, proto, client };
    })().catch((e: unknown) => {
      // Not kept: the next request tries again (CertManager backs off per identity).
      this.connected = undefined;
      throw signFailure('ca_error', `the CA client could not be made: ${(e as Error).message}`, {}, e);
    });
    return this.connected;
  }

  async sign(csrPem: string, ttlSeconds: number, identity: string): Promise<string[]> {
    const token = typeof this.opts.token === 'function' ? this.opts.token() : this.opts.token;
    const { grpc: g, proto, client } = await this.connect();
    const md = new g.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const req: CertRequest = { csr: csrPem, validity_duration: Math.floor(ttlSeconds), metadata: proto.toStruct({ [proto.IMPERSONATED_IDENTITY]: identity }) };
    const call = (client as unknown as Record<string, Function>).CreateCertificate as (
      r: CertRequest,
      m: grpc.Metadata,
      o: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: CertResponse) => void,
    ) => void;
    return new Promise<string[]>((resolve, reject) => {
      call.call(client, req, md, { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err) return reject(signFailure(reasonOf(err.code), `${g.status[err.code] ?? err.code}: ${err.details}`, { grpcCode: err.code }, err));
        const chain = res?.cert_chain ?? [];
        if (chain.length === 0) return reject(signFailure('invalid_response', 'the CA answered an empty chain'));
        resolve(chain);
      });
    });
  }

  close(): void {
    this.closed = true;
    void this.connected?.then((c) => c.client.close(), () => undefined);
  }
}

export interface LocalSignerOptions {
  /** Persist the root there (root-cert.pem, root-key.pem) so restarts keep trust; in memory otherwise. */
  readonly dir?: string;
  readonly trustDomain?: string;
  /** Cap on the TTL handed out; default 24 h. */
  readonly maxTtlSeconds?: number;
}

/**
 * An embedded CA: no network, no node check (the agent is the only caller and signs only what it asked
 * for itself). For one-node clusters and demos; a multi-node mesh needs the shared CA so that every
 * node trusts the same root.
 */
export class LocalSigner implements Signer {
  constructor(
    readonly ca: CaMaterial,
    private readonly maxTtlSeconds = 24 * 3600,
  ) {}

  static async create(opts: LocalSignerOptions = {}): Promise<LocalSigner> {
    const td = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    const ca = opts.dir !== undefined ? (await (await import('../ca/store')).loadOrCreateRoot(opts.dir, td)).ca : await (await import('./certs')).createRootCa(td);
    return new LocalSigner(ca, opts.maxTtlSeconds);
  }

  get rootPem(): string {
    return this.ca.certPem;
  }

  async sign(csrPem: string, ttlSeconds: number, identity: string): Promise<string[]> {
    const ttl = Math.max(1, Math.min(Math.floor(ttlSeconds), this.maxTtlSeconds));
    try {
      const { signLeaf } = await import('./certs');
      return [await signLeaf({ csrPem, ca: this.ca, ttlSeconds: ttl, spiffeId: identity }), this.ca.certPem];
    } catch (e) {
      if (isMeshError(e, 'BAD_CSR')) throw signFailure('invalid_request', e.message, {}, e);
      throw signFailure('ca_error', (e as Error).message, {}, e);
    }
  }
}

/**
 * The embedded CA of an agent (LocalSigner), whose root is made with the first signature: an agent with
 * no workload to certify never makes one, nor loads the X.509 code. A trust domain that cannot make a
 * root is refused here, at once, as LocalSigner.create refuses it.
 */
export class DeferredLocalSigner implements Signer {
  private signer: Promise<LocalSigner> | undefined;
  private root: string | undefined;

  constructor(private readonly opts: LocalSignerOptions = {}) {
    const problem = checkTrustDomain(opts.trustDomain ?? DEFAULT_TRUST_DOMAIN);
    if (problem !== undefined) throw new MeshError('BAD_SPIFFE_ID', problem);
  }

  /** The root once the first signature made it; undefined before. */
  get rootPem(): string | undefined {
    return this.root;
  }

  async sign(csrPem: string, ttlSeconds: number, identity: string): Promise<string[]> {
    // A failed attempt is not kept: the next signature tries to make the root again.
    const made = (this.signer ??= LocalSigner.create(this.opts).catch((e: unknown) => {
      this.signer = undefined;
      throw signFailure('ca_error', `the embedded CA could not make its root: ${(e as Error).message}`, {}, e);
    }));
    const local = await made;
    this.root = local.rootPem;
    return local.sign(csrPem, ttlSeconds, identity);
  }
}
