// A proxy worker's copy of the workload certificates. The main thread alone talks to the CA (one CSR
// per identity and rotation, however many workers); it posts what it holds after every change, and
// each worker's tunnel reads keys from here. 'rotated' fires for an identity whose certificate changed,
// so the tunnel pool forgets TLS tickets made with the old one, as it does with a CertManager.
import { EventEmitter } from 'node:events';
import type { CertMaterial } from './manager';

/** Everything held, as the main thread posts it (plain data: it crosses a MessagePort). */
export interface HeldCerts {
  readonly root: string | undefined;
  readonly held: readonly { readonly identity: string; readonly material: CertMaterial | undefined }[];
}

/** What the tunnel needs from a certificate holder (CertManager or CertMirror). */
export interface CertSource {
  keyCert(id: string): { key: string; cert: string } | undefined;
  rootPem(): string | undefined;
  on(event: 'rotated', listener: (id: string, m: CertMaterial) => void): unknown;
}

export class CertMirror extends EventEmitter implements CertSource {
  private root: string | undefined;
  private readonly byId = new Map<string, CertMaterial>();

  set(h: HeldCerts): void {
    this.root = h.root;
    const seen = new Set<string>();
    for (const { identity, material } of h.held) {
      if (material === undefined) continue;
      seen.add(identity);
      const before = this.byId.get(identity);
      this.byId.set(identity, material);
      if (before !== undefined && before.serial !== material.serial) this.emit('rotated', identity, material);
    }
    for (const id of this.byId.keys()) if (!seen.has(id)) this.byId.delete(id);
  }

  keyCert(id: string): { key: string; cert: string } | undefined {
    const m = this.byId.get(id);
    return m === undefined ? undefined : { key: m.keyPem, cert: m.certChainPem.join('') };
  }

  rootPem(): string | undefined {
    return this.root;
  }
}
