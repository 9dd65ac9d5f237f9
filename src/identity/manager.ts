// Workload certificates of one node agent: one fresh key and SVID per SPIFFE id the node's workloads
// run as, renewed at half-life (±1% jitter so a node's certificates, all issued at start, do not renew
// in one burst), through an injected Signer. A failing CA never crashes the agent: the current
// certificate keeps serving while renewals retry with capped exponential backoff. The X.509 code is
// loaded with the first request (keys and CSRs; reading the answer is node's): an agent with no
// workload to certify never loads it.
import { EventEmitter } from 'node:events';
import { Counter, Gauge, type Registry } from '../telemetry/promlite';
import { MeshError } from '../errors';
import { logger } from '../log';
import { certInfo, isIssuedBy, keyMatchesCert, splitPem } from './pem';
import { failureReason, signFailure, type SignFailure, type Signer } from './signers';
import { tryParseSpiffeId } from './spiffe';

export type { Signer } from './signers';

const log = logger('identity');

export interface CertMaterial {
  /** PKCS#8 PEM; node `tls` option `key`. */
  readonly keyPem: string;
  /** Leaf first, then any intermediates (root excluded); `cert: certChainPem.join('')`. */
  readonly certChainPem: readonly string[];
  /** The root the CA answered with; `ca` for verifying peers. */
  readonly rootPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serial: string;
}

export interface CertManagerOptions {
  readonly signer: Signer;
  /** Lifetime asked of the CA (it may cap it); default 24 h. */
  readonly ttlSeconds?: number;
  /** Registers the nodemesh_cert_* metrics there when given. */
  readonly registry?: Registry;
  /** First retry after a failure (ms, default 1000), doubled per failure up to retryMaxMs (default 60 s). */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /** Root to report before any certificate arrived (e.g. the `--ca-root` the GrpcSigner trusts). */
  readonly rootPem?: string;
  /** For tests: a source of [0, 1). */
  readonly random?: () => number;
}

interface Slot {
  material: CertMaterial | undefined;
  timer: NodeJS.Timeout | undefined;
  inflight: Promise<void> | undefined;
  failures: number;
  dropped: boolean;
  waiters: Array<{ resolve: (m: CertMaterial) => void; reject: (e: Error) => void }>;
}

interface Metrics {
  readonly expiry: Gauge<'identity'>;
  readonly rotations: Counter<'identity'>;
  readonly errors: Counter<'reason'>;
}

/** setTimeout fires at once for delays beyond 2^31-1 ms (~24.8 days), so long waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Events: 'issued'(id, material) for an identity's first certificate, 'rotated'(id, material) for each
 * renewal after that.
 */
export class CertManager extends EventEmitter {
  private readonly slots = new Map<string, Slot>();
  private readonly signer: Signer;
  private readonly ttlSeconds: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly random: () => number;
  private readonly metrics: Metrics | undefined;
  private root: string | undefined;
  private stopped = false;

  constructor(opts: CertManagerOptions) {
    super();
    this.signer = opts.signer;
    this.ttlSeconds = opts.ttlSeconds ?? 24 * 3600;
    this.retryInitialMs = opts.retryInitialMs ?? 1000;
    this.retryMaxMs = opts.retryMaxMs ?? 60_000;
    this.random = opts.random ?? Math.random;
    this.metrics = opts.registry === undefined ? undefined : metricsIn(opts.registry);
    this.root = opts.rootPem;
  }

  /**
   * Makes the held set exactly `ids`: fetches the missing ones, forgets the others. Resolves once every
   * new identity has had its first attempt (success or not); never rejects.
   */
  async ensure(ids: readonly string[]): Promise<void> {
    if (this.stopped) return;
    const wanted = new Set<string>();
    for (const id of ids) {
      if (tryParseSpiffeId(id) === undefined) {
        log.error({ identity: id }, 'not a SPIFFE id; no certificate requested');
        this.metrics?.errors.inc({ reason: 'invalid_request' });
      } else wanted.add(id);
    }
    for (const [id, slot] of this.slots) if (!wanted.has(id)) this.drop(id, slot);
    const first: Promise<void>[] = [];
    for (const id of wanted) {
      if (this.slots.has(id)) continue;
      const slot: Slot = { material: undefined, timer: undefined, inflight: undefined, failures: 0, dropped: false, waiters: [] };
      this.slots.set(id, slot);
      first.push(this.fetch(id, slot));
    }
    await Promise.all(first);
  }

  get(id: string): CertMaterial | undefined {
    return this.slots.get(id)?.material;
  }

  /** Key and chain as node `tls` takes them (`key`, `cert`): the shape the HBONE tunnel asks for. */
  keyCert(id: string): { key: string; cert: string } | undefined {
    const m = this.slots.get(id)?.material;
    return m === undefined ? undefined : { key: m.keyPem, cert: m.certChainPem.join('') };
  }

  /** The most recent root any CA answer carried (or the configured one before the first answer). */
  rootPem(): string | undefined {
    return this.root;
  }

  identities(): string[] {
    return [...this.slots.keys()];
  }

  /** Resolves with the identity's material once there is some (at once if there is); rejects after timeoutMs. */
  wait(id: string, timeoutMs: number): Promise<CertMaterial> {
    const slot = this.slots.get(id);
    if (slot?.material !== undefined) return Promise.resolve(slot.material);
    if (slot === undefined || this.stopped) return Promise.reject(new MeshError('CERT_FETCH', `${id} is not managed on this node`, { identity: id }));
    return new Promise<CertMaterial>((resolve, reject) => {
      const timer = setTimeout(() => {
        slot.waiters = slot.waiters.filter((w) => w !== waiter);
        reject(new MeshError('CERT_FETCH', `no certificate for ${id} within ${timeoutMs} ms`, { identity: id, reason: 'unavailable' }));
      }, timeoutMs);
      timer.unref();
      const waiter = {
        resolve: (m: CertMaterial) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      slot.waiters.push(waiter);
    });
  }

  /** Clears every timer; material already held stays readable. Does not close the signer (not ours). */
  stop(): void {
    this.stopped = true;
    for (const [id, slot] of this.slots) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
      this.rejectWaiters(id, slot, 'the certificate manager stopped');
    }
  }

  private drop(id: string, slot: Slot): void {
    slot.dropped = true;
    clearTimeout(slot.timer);
    this.rejectWaiters(id, slot, `${id} is no longer needed on this node`);
    this.slots.delete(id);
    this.metrics?.expiry.remove({ identity: id });
    log.info({ identity: id }, 'certificate dropped');
  }

  private rejectWaiters(id: string, slot: Slot, why: string): void {
    const ws = slot.waiters;
    slot.waiters = [];
    for (const w of ws) w.reject(new MeshError('CERT_FETCH', why, { identity: id }));
  }

  /** One attempt; concurrent triggers (timer + ensure) share it. Never rejects. */
  private fetch(id: string, slot: Slot): Promise<void> {
    slot.inflight ??= this.attempt(id, slot).finally(() => {
      slot.inflight = undefined;
    });
    return slot.inflight;
  }

  private async attempt(id: string, slot: Slot): Promise<void> {
    const fetchedAt = Date.now();
    let material: CertMaterial;
    try {
      const { createCsr, generateKeyPair } = await import('./certs');
      const key = await generateKeyPair();
      const csr = await createCsr(id, key);
      const chain = (await this.signer.sign(csr, this.ttlSeconds, id)).flatMap((c) => splitPem(c));
      material = checkChain(id, key.keyPem, chain);
    } catch (err) {
      if (slot.dropped || this.stopped) return;
      slot.failures++;
      const reason: SignFailure = failureReason(err);
      this.metrics?.errors.inc({ reason });
      const delay = Math.min(this.retryMaxMs, this.retryInitialMs * 2 ** Math.min(slot.failures - 1, 30)) * (0.8 + 0.4 * this.random());
      // The first failure is worth a warning; repeats of the same outage are logged quieter.
      const level = slot.failures === 1 || slot.failures % 10 === 0 ? 'warn' : 'debug';
      log[level]({ identity: id, reason, err, failures: slot.failures, retryMs: Math.round(delay), validUntil: slot.material?.notAfter.toISOString() }, 'certificate request failed');
      this.schedule(id, slot, Date.now() + delay);
      return;
    }
    if (slot.dropped || this.stopped) return;
    const renewed = slot.material !== undefined;
    slot.material = material;
    slot.failures = 0;
    if (this.root !== undefined && this.root !== material.rootPem) log.info({ identity: id }, 'the CA answered with a different root');
    this.root = material.rootPem;
    this.metrics?.expiry.set({ identity: id }, material.notAfter.getTime() / 1000);
    if (renewed) this.metrics?.rotations.inc({ identity: id });
    // Half of the life left at issuance rather than of notAfter-notBefore, which includes the CA's
    // backdating and would renew a short-lived certificate too early. (X.509 times have one-second
    // precision, so a 4 s certificate renews after 1.5-2 s.)
    const half = (material.notAfter.getTime() - fetchedAt) / 2;
    const jitter = 1 + (this.random() * 2 - 1) * 0.01;
    this.schedule(id, slot, fetchedAt + Math.max(0, half * jitter));
    log.info({ identity: id, serial: material.serial, notAfter: material.notAfter.toISOString(), renewed }, renewed ? 'certificate rotated' : 'certificate issued');
    const ws = slot.waiters;
    slot.waiters = [];
    for (const w of ws) w.resolve(material);
    this.emitSafely(renewed ? 'rotated' : 'issued', id, material);
  }

  private schedule(id: string, slot: Slot, at: number): void {
    clearTimeout(slot.timer);
    if (this.stopped || slot.dropped) return;
    const delay = Math.max(0, at - Date.now());
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (Date.now() < at) this.schedule(id, slot, at);
      else void this.fetch(id, slot);
    }, Math.min(delay, MAX_TIMER_MS));
    slot.timer.unref();
  }

  /** A throwing listener must not turn into a failed renewal (or an unhandled rejection). */
  private emitSafely(event: string, id: string, m: CertMaterial): void {
    try {
      this.emit(event, id, m);
    } catch (err) {
      log.error({ err, event, identity: id }, 'certificate listener threw');
    }
  }
}

/** Trusts the CA's answer only after checking it: our key, our identity, each link signed by the next. */
function checkChain(id: string, keyPem: string, chain: readonly string[]): CertMaterial {
  if (chain.length < 2) throw signFailure('invalid_response', `the CA answered ${chain.length} certificate(s); expected a leaf and a root`);
  const leaf = chain[0] as string;
  let info;
  try {
    info = certInfo(leaf);
  } catch (e) {
    throw signFailure('invalid_response', `unreadable leaf: ${(e as Error).message}`, {}, e);
  }
  if (info.spiffeId !== id) throw signFailure('invalid_response', `the leaf names ${info.uriSans.join(', ') || 'no URI SAN'}, not ${id}`);
  if (!keyMatchesCert(keyPem, leaf)) throw signFailure('invalid_response', 'the leaf is not for the key in our CSR');
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!isIssuedBy(chain[i] as string, chain[i + 1] as string)) throw signFailure('invalid_response', `certificate ${i} of the chain is not issued by certificate ${i + 1}`);
  }
  if (info.notAfter.getTime() <= Date.now()) throw signFailure('invalid_response', 'the leaf is already expired');
  return {
    keyPem,
    certChainPem: chain.slice(0, -1),
    rootPem: chain[chain.length - 1] as string,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    serial: info.serial,
  };
}

function metricsIn(registry: Registry): Metrics {
  // Reuse what is already registered, so a second manager (tests, restarts in-process) does not throw.
  const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
  return {
    expiry:
      existing<Gauge<'identity'>>('nodemesh_cert_expiry_timestamp_seconds') ??
      new Gauge({ name: 'nodemesh_cert_expiry_timestamp_seconds', help: 'notAfter of the current workload certificate, unix seconds', labelNames: ['identity'], registers: [registry] }),
    rotations:
      existing<Counter<'identity'>>('nodemesh_cert_rotations_total') ??
      new Counter({ name: 'nodemesh_cert_rotations_total', help: 'Workload certificates renewed (first issuance not counted)', labelNames: ['identity'], registers: [registry] }),
    errors:
      existing<Counter<'reason'>>('nodemesh_cert_errors_total') ??
      new Counter({ name: 'nodemesh_cert_errors_total', help: 'Failed workload certificate requests by reason', labelNames: ['reason'], registers: [registry] }),
  };
}
