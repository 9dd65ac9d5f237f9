// The root CA kept in a Kubernetes Secret (keys root-cert.pem and root-key.pem) instead of a directory,
// so every replica and every restart of the CA signs with the same root, and published in a ConfigMap
// (key root-cert.pem) that the agents mount to trust the CA. Created on first start; several CAs
// starting at once race on the create, and the loser (409 Conflict) reads the winner's root back.
// Loaded only when the API is in use (main.ts imports it lazily).
import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Secret } from '@kubernetes/client-node';
import { MeshError } from '../errors';
import { certInfo, createRootCa, type CaMaterial } from '../identity/certs';
import { logger } from '../log';
import { httpStatusOf } from './review';
import { checkRoot, ROOT_CERT_FILE, ROOT_KEY_FILE, type LoadedRoot } from './store';

const log = logger('ca.store');

/** Where an object lives. */
export interface ObjectRef {
  readonly namespace: string;
  readonly name: string;
}

const LABELS = { 'app.kubernetes.io/name': 'nodemesh', 'app.kubernetes.io/component': 'ca' };

export interface KubeRootOptions {
  /** Attempts for transient failures (API away, 5xx, 429) and for lost create/update races. Default 6. */
  readonly attempts?: number;
  /** First wait between attempts (ms, doubled each time). Default 500. */
  readonly retryMs?: number;
  readonly ttlDays?: number;
}

type Outcome<T> = { done: T } | { again: string };

/** Runs `step` until it is done; a transient API failure or a lost race (409) runs it again, bounded. */
async function withRetries<T>(what: string, o: KubeRootOptions, step: () => Promise<Outcome<T>>): Promise<T> {
  const attempts = o.attempts ?? 6;
  let wait = o.retryMs ?? 500;
  let last = '';
  for (let i = 1; i <= attempts; i++) {
    try {
      const r = await step();
      if ('done' in r) return r.done;
      last = r.again;
    } catch (err) {
      if (err instanceof MeshError) throw err;
      const status = httpStatusOf(err);
      const message = status !== undefined ? `HTTP ${status}: ${apiMessage(err)}` : err instanceof Error ? err.message : String(err);
      if (status === 401 || status === 403) {
        throw new MeshError('CA_STORE', `${what}: the API refused (${message}); the CA's ServiceAccount needs get, create and update there`, { status }, { cause: err });
      }
      if (status !== undefined && status !== 429 && status < 500) throw new MeshError('CA_STORE', `${what}: ${message}`, { status }, { cause: err });
      last = message;
      log.warn({ code: 'NM_E_KUBE_API', err: message, attempt: i }, `${what}: retrying`);
    }
    if (i < attempts) await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 8000);
  }
  throw new MeshError('CA_STORE', `${what}: gave up after ${attempts} attempts: ${last}`);
}

function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  const text = typeof body === 'string' ? body : '';
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    // Not a Status object.
  }
  return text.slice(0, 200) || (err instanceof Error ? err.message.slice(0, 200) : '');
}

/** GET that answers undefined for 404. */
async function readOrNone<T>(get: () => Promise<T>): Promise<T | undefined> {
  try {
    return await get();
  } catch (err) {
    if (httpStatusOf(err) === 404) return undefined;
    throw err;
  }
}

/** A create or update that lost a race (409 Conflict): the caller reads again. */
async function unlessConflict(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (err) {
    if (httpStatusOf(err) === 409) return false;
    throw err;
  }
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string | undefined => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

/** Reads the root from Secret NS/NAME, creating it (with a new root) when it does not exist. */
export async function loadOrCreateRootSecret(kc: KubeConfig, ref: ObjectRef, trustDomain: string, o: KubeRootOptions = {}): Promise<LoadedRoot> {
  const api = kc.makeApiClient(CoreV1Api);
  const where = `Secret ${ref.namespace}/${ref.name}`;
  let fresh: CaMaterial | undefined;
  const newRoot = async (): Promise<CaMaterial> => (fresh ??= await createRootCa(trustDomain, o.ttlDays ?? 3650));
  const data = (ca: CaMaterial): Record<string, string> => ({ [ROOT_CERT_FILE]: b64(ca.certPem), [ROOT_KEY_FILE]: b64(ca.keyPem) });
  const loaded = await withRetries<LoadedRoot>(where, o, async () => {
    const secret = await readOrNone(() => api.readNamespacedSecret({ namespace: ref.namespace, name: ref.name }));
    if (secret === undefined) {
      const ca = await newRoot();
      const body: V1Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: ref.name, namespace: ref.namespace, labels: LABELS }, type: 'Opaque', data: data(ca) };
      return (await unlessConflict(() => api.createNamespacedSecret({ namespace: ref.namespace, body }))) ? { done: { ca, created: true } } : { again: `${where} was created meanwhile` };
    }
    const certPem = unb64(secret.data?.[ROOT_CERT_FILE]);
    const keyPem = unb64(secret.data?.[ROOT_KEY_FILE]);
    if (certPem !== undefined && keyPem !== undefined) {
      return { done: { ca: checkRoot({ certPem, keyPem }, { cert: `${where} key ${ROOT_CERT_FILE}`, key: `${where} key ${ROOT_KEY_FILE}` }), created: false } };
    }
    if (certPem !== undefined || keyPem !== undefined) {
      // Never overwrite half a CA: the missing half may be on its way back from a backup.
      const [has, lacks] = certPem !== undefined ? [ROOT_CERT_FILE, ROOT_KEY_FILE] : [ROOT_KEY_FILE, ROOT_CERT_FILE];
      throw new MeshError('CA_STORE', `${where} has ${has} but not ${lacks}`, { secret: `${ref.namespace}/${ref.name}` });
    }
    // An empty Secret made ahead (e.g. by the manifests): fill it in; the resourceVersion guards the race.
    const ca = await newRoot();
    const body: V1Secret = { ...secret, data: { ...(secret.data ?? {}), ...data(ca) } };
    return (await unlessConflict(() => api.replaceNamespacedSecret({ namespace: ref.namespace, name: ref.name, body }))) ? { done: { ca, created: true } } : { again: `${where} changed meanwhile` };
  });
  const serial = certInfo(loaded.ca.certPem).serial;
  log.info({ secret: `${ref.namespace}/${ref.name}`, trustDomain, serial }, loaded.created ? 'created a new root CA in the Secret' : 'reusing the root CA from the Secret');
  return loaded;
}

/** Writes the root certificate into ConfigMap NS/NAME (key root-cert.pem), creating it when missing. */
export async function publishRootConfigMap(kc: KubeConfig, ref: ObjectRef, certPem: string, o: KubeRootOptions = {}): Promise<'created' | 'updated' | 'unchanged'> {
  const api = kc.makeApiClient(CoreV1Api);
  const where = `ConfigMap ${ref.namespace}/${ref.name}`;
  const result = await withRetries<'created' | 'updated' | 'unchanged'>(where, o, async () => {
    const cm = await readOrNone(() => api.readNamespacedConfigMap({ namespace: ref.namespace, name: ref.name }));
    if (cm === undefined) {
      const body: V1ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ref.name, namespace: ref.namespace, labels: LABELS }, data: { [ROOT_CERT_FILE]: certPem } };
      return (await unlessConflict(() => api.createNamespacedConfigMap({ namespace: ref.namespace, body }))) ? { done: 'created' } : { again: `${where} was created meanwhile` };
    }
    if (cm.data?.[ROOT_CERT_FILE] === certPem) return { done: 'unchanged' };
    // Other keys stay: someone may keep more there (an extra root during a rotation).
    const body: V1ConfigMap = { ...cm, data: { ...(cm.data ?? {}), [ROOT_CERT_FILE]: certPem } };
    return (await unlessConflict(() => api.replaceNamespacedConfigMap({ namespace: ref.namespace, name: ref.name, body }))) ? { done: 'updated' } : { again: `${where} changed meanwhile` };
  });
  log.info({ configMap: `${ref.namespace}/${ref.name}`, result }, 'root certificate published');
  return result;
}
