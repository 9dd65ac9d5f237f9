// Certificates that DestinationRules name by `credentialName`: Kubernetes discovery reads the Secrets and
// puts what they hold here; tls.ts takes it for each new connection, so a Secret that changes is used
// from the next connection on, and one that is gone fails connections (503 UF) with a clear reason.

/** PEM bytes of one credential; `version` changes whenever any of them does. */
export interface CredentialMaterial {
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly ca?: Buffer;
  readonly version: string;
}

/** A credential's state: its material, or why there is none (no such Secret, unusable keys, not read yet). */
export type CredentialState = { readonly material: CredentialMaterial } | { readonly error: string };

export class CredentialStore {
  private readonly byKey = new Map<string, CredentialState>();

  static key(namespace: string, name: string): string {
    return `${namespace}/${name}`;
  }

  get(namespace: string, name: string): CredentialState {
    return this.byKey.get(CredentialStore.key(namespace, name)) ?? { error: `Secret ${namespace}/${name} has not been read (Kubernetes discovery is not running, or is still listing it)` };
  }

  set(namespace: string, name: string, state: CredentialState): void {
    this.byKey.set(CredentialStore.key(namespace, name), state);
  }

  delete(namespace: string, name: string): void {
    this.byKey.delete(CredentialStore.key(namespace, name));
  }
}

/** The agent's one store (discovery writes, the dialler reads). */
export const credentials = new CredentialStore();
