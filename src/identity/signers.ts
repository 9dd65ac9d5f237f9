// Where a node agent gets its workload certificates signed: the mesh CA over gRPC (GrpcSigner), or an
// embedded CA for a single node or a demo (LocalSigner). Both answer [leaf, ..., root] like Istio's CA.
import * as grpc from '@grpc/grpc-js';
import { CertClient, IMPERSONATED_IDENTITY, toStruct, type CertRequest, type CertResponse } from '../ca/proto';
import { CA_SERVER_NAME } from '../ca/server';
import { loadOrCreateRoot } from '../ca/store';
import { isMeshError, MeshError } from '../errors';
import { createRootCa, signLeaf, type CaMaterial } from './certs';
import { DEFAULT_TRUST_DOMAIN } from './spiffe';

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

const UNAVAILABLE_CODES = new Set<number>([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED, grpc.status.RESOURCE_EXHAUSTED]);

function reasonOf(code: number): SignFailure {
  if (UNAVAILABLE_CODES.has(code)) return 'unavailable';
  if (code === grpc.status.UNAUTHENTICATED) return 'unauthenticated';
  if (code === grpc.status.PERMISSION_DENIED) return 'denied';
  if (code === grpc.status.INVALID_ARGUMENT) return 'invalid_request';
  return 'ca_error';
}

export class GrpcSigner implements Signer {
  private readonly client: grpc.Client;
  private readonly timeoutMs: number;

  constructor(private readonly opts: GrpcSignerOptions) {
    const name = opts.serverName ?? CA_SERVER_NAME;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.client = new CertClient(opts.address, grpc.credentials.createSsl(Buffer.from(opts.rootPem)), {
      // Verify the CA as `name` while dialling an IP (the node agents reach the CA by a Service IP).
      'grpc.ssl_target_name_override': name,
      'grpc.default_authority': name,
      // Reconnect quickly after a CA restart; the CertManager does its own, longer backoff per identity.
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 10_000,
    });
  }

  sign(csrPem: string, ttlSeconds: number, identity: string): Promise<string[]> {
    const token = typeof this.opts.token === 'function' ? this.opts.token() : this.opts.token;
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const req: CertRequest = { csr: csrPem, validity_duration: Math.floor(ttlSeconds), metadata: toStruct({ [IMPERSONATED_IDENTITY]: identity }) };
    const call = (this.client as unknown as Record<string, Function>).CreateCertificate as (
      r: CertRequest,
      m: grpc.Metadata,
      o: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: CertResponse) => void,
    ) => void;
    return new Promise<string[]>((resolve, reject) => {
      call.call(this.client, req, md, { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err) return reject(signFailure(reasonOf(err.code), `${grpc.status[err.code] ?? err.code}: ${err.details}`, { grpcCode: err.code }, err));
        const chain = res?.cert_chain ?? [];
        if (chain.length === 0) return reject(signFailure('invalid_response', 'the CA answered an empty chain'));
        resolve(chain);
      });
    });
  }

  close(): void {
    this.client.close();
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
    const ca = opts.dir !== undefined ? (await loadOrCreateRoot(opts.dir, td)).ca : await createRootCa(td);
    return new LocalSigner(ca, opts.maxTtlSeconds);
  }

  get rootPem(): string {
    return this.ca.certPem;
  }

  async sign(csrPem: string, ttlSeconds: number, identity: string): Promise<string[]> {
    const ttl = Math.max(1, Math.min(Math.floor(ttlSeconds), this.maxTtlSeconds));
    try {
      return [await signLeaf({ csrPem, ca: this.ca, ttlSeconds: ttl, spiffeId: identity }), this.ca.certPem];
    } catch (e) {
      if (isMeshError(e, 'BAD_CSR')) throw signFailure('invalid_request', e.message, {}, e);
      throw signFailure('ca_error', (e as Error).message, {}, e);
    }
  }
}
