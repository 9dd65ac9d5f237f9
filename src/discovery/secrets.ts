// The Secrets that DestinationRules name by `credentialName`, and no others: for each credential
// NAMESPACE/NAME, one list+watch of the Secret NAME and one of NAME-cacert (the CA, when the Secret has
// none), each in NAMESPACE with the field selector metadata.name=…, so the API sends exactly those
// objects (RBAC may grant list and watch per namespace, and a Secret that is not referenced is never
// sent to the node). What they hold goes to the credential store the dialler reads; a credential
// that stops being referenced is dropped with its watches.
import type { KubeConfig } from '@kubernetes/client-node';
import type { CredentialRef } from './credentialrefs';
import { CATALOG } from '../errors';
import { logger } from '../log';
import { credentials as defaultStore, CredentialStore } from '../upstream/credentials';
import { Informer, type InformerEvents, type InformerOptions } from './informer';
import { caSecretName, credentialFromSecrets, trimSecret, type KSecret } from './secretmaterial';

const log = logger('discovery.secrets');

export { credentialRefs, type CredentialRef } from './credentialrefs';

export interface SecretWatcherOptions {
  readonly store?: CredentialStore;
  readonly informer?: InformerOptions;
}

export class SecretWatcher {
  /** Watches by Secret key (namespace/name). */
  private readonly watches = new Map<string, Informer<KSecret>>();
  private readonly secrets = new Map<string, KSecret>();
  /** Credentials referenced now, by key. */
  private wanted = new Map<string, CredentialRef>();
  /** What was last said about each credential (logged on change only). */
  private readonly said = new Map<string, string>();
  private readonly store: CredentialStore;
  private stopped = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: SecretWatcherOptions = {},
  ) {
    this.store = opts.store ?? defaultStore;
  }

  /** Sets the credentials referenced now: watches start for new ones and stop for dropped ones. */
  want(refs: readonly CredentialRef[]): void {
    if (this.stopped) return;
    const next = new Map(refs.map((r) => [CredentialStore.key(r.namespace, r.name), r]));
    const secretKeys = new Set<string>();
    for (const r of next.values()) {
      secretKeys.add(CredentialStore.key(r.namespace, r.name));
      secretKeys.add(CredentialStore.key(r.namespace, caSecretName(r.name)));
    }
    for (const [k, r] of this.wanted) {
      if (next.has(k)) continue;
      this.store.delete(r.namespace, r.name);
      this.said.delete(k);
    }
    for (const [k, w] of this.watches) {
      if (secretKeys.has(k)) continue;
      w.stop();
      this.watches.delete(k);
      this.secrets.delete(k);
    }
    this.wanted = next;
    for (const k of secretKeys) {
      if (this.watches.has(k)) continue;
      const [namespace, name] = split(k);
      const w = new Informer<KSecret>(
        this.kc,
        { kind: 'Secret', path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`, fieldSelector: `metadata.name=${name}`, optional: true, trim: trimSecret },
        this.events(k),
        this.opts.informer,
      );
      this.watches.set(k, w);
      w.start();
    }
    for (const r of next.values()) this.refresh(r);
  }

  /** The credentials referenced now (for tests and status). */
  referenced(): string[] {
    return [...this.wanted.keys()].sort();
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watches.values()) w.stop();
    this.watches.clear();
  }

  private events(secretKey: string): InformerEvents<KSecret> {
    const changed = (): void => {
      for (const r of this.wanted.values()) {
        const k = CredentialStore.key(r.namespace, r.name);
        if (secretKey === k || secretKey === CredentialStore.key(r.namespace, caSecretName(r.name))) this.refresh(r);
      }
    };
    return {
      upsert: (_kind, key, value) => {
        if (key !== secretKey || this.watches.get(secretKey) === undefined) return;
        this.secrets.set(key, value);
        changed();
      },
      remove: (_kind, key) => {
        if (key !== secretKey) return;
        this.secrets.delete(key);
        changed();
      },
      skipped: (_kind, key, reason) => log.warn({ code: CATALOG.TLS_CREDENTIAL.code, secret: key }, `Secret ${key} could not be read (${reason}); its previous contents, if any, stay in use`),
      synced: () => changed(),
      activity: () => undefined,
    };
  }

  /** Puts credential R's current state in the store once its Secret has been listed, logging changes. */
  private refresh(r: CredentialRef): void {
    const k = CredentialStore.key(r.namespace, r.name);
    const main = this.watches.get(k);
    const ca = this.watches.get(CredentialStore.key(r.namespace, caSecretName(r.name)));
    if (main === undefined || !main.isSynced) return;
    // The CA Secret is only needed when the Secret has no CA of its own: do not wait for it otherwise.
    const mainSecret = this.secrets.get(k);
    const ownCa = mainSecret !== undefined && (mainSecret.data['ca.crt'] !== undefined || mainSecret.data['cacert'] !== undefined);
    if (!ownCa && ca !== undefined && !ca.isSynced) return;
    const state = main.absent
      ? { error: `Secret ${k} cannot be read: the API refused (grant the agent get, list and watch on Secrets in namespace ${r.namespace}, see docs/deploy.md)` }
      : credentialFromSecrets(r.namespace, r.name, mainSecret, this.secrets.get(CredentialStore.key(r.namespace, caSecretName(r.name))));
    this.store.set(r.namespace, r.name, state);
    const note = 'error' in state ? `error:${state.error}` : `ok:${state.material.version}`;
    if (this.said.get(k) === note) return;
    this.said.set(k, note);
    if ('error' in state) {
      log.warn({ code: CATALOG.TLS_CREDENTIAL.code, secret: k }, `${CATALOG.TLS_CREDENTIAL.message}: ${state.error}; connections that originate TLS with it fail with 503 UF`);
    } else {
      const m = state.material;
      log.info({ secret: k, version: m.version, cert: m.cert !== undefined, ca: m.ca !== undefined }, `TLS credential ${k} read; new connections use it`);
    }
  }
}

function split(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}
