// What a Secret named by a DestinationRule's `credentialName` holds, read as Istio reads it for a
// sidecar's TLS origination: the client certificate and key as `tls.crt` and `tls.key` (a
// kubernetes.io/tls or generic Secret) or `cert` and `key` (generic); the CA as `ca.crt` or `cacert`,
// in the same Secret or else in the Secret `<name>-cacert`. Pure: trimmed Secrets in, material or the
// reason there is none out.
import { createHash, type KeyObject, type X509Certificate } from 'node:crypto';
import { parsePem } from '../config/kinds/clienttls';
import type { CredentialState } from '../upstream/credentials';

/** The keys read from a Secret's `data`; any other key is not kept. */
export const SECRET_KEYS = ['tls.crt', 'tls.key', 'ca.crt', 'cert', 'key', 'cacert'] as const;

/** A Secret as kept: its type and the decoded values of SECRET_KEYS that it has. */
export interface KSecret {
  readonly type: string;
  readonly data: Readonly<Record<string, Buffer>>;
}

/** The Secret keeping the CA of credential NAME when the Secret itself has none. */
export const caSecretName = (name: string): string => `${name}-cacert`;

/** Reads a Secret object from the API (base64 `data`), keeping only the keys of SECRET_KEYS. */
export function trimSecret(raw: unknown): { ok: KSecret } | { skip: string } {
  const o = raw as { type?: unknown; data?: unknown } | null;
  if (o === null || typeof o !== 'object') return { skip: 'not an object' };
  const data: Record<string, Buffer> = {};
  if (o.data !== undefined && o.data !== null) {
    if (typeof o.data !== 'object') return { skip: 'data is not a map' };
    for (const k of SECRET_KEYS) {
      const v = (o.data as Record<string, unknown>)[k];
      if (typeof v === 'string') data[k] = Buffer.from(v, 'base64');
    }
  }
  return { ok: { type: typeof o.type === 'string' ? o.type : 'Opaque', data } };
}

const pick = (s: KSecret | undefined, keys: readonly string[]): [string, Buffer] | undefined => {
  for (const k of keys) {
    const v = s?.data[k];
    if (v !== undefined && v.length > 0) return [k, v];
  }
  return undefined;
};

/**
 * The material of credential NAMESPACE/NAME given its Secret (undefined: none) and its `-cacert`
 * Secret (undefined: none). Each certificate and the key must parse, and the key must match the
 * certificate; a Secret with none of the keys is refused, naming the keys looked for.
 */
export function credentialFromSecrets(namespace: string, name: string, main: KSecret | undefined, cacert: KSecret | undefined): CredentialState {
  const where = `Secret ${namespace}/${name}`;
  if (main === undefined) return { error: `${where} does not exist` };
  const certKey = pick(main, ['tls.crt', 'cert']);
  const keyKey = pick(main, certKey?.[0] === 'cert' ? ['key', 'tls.key'] : ['tls.key', 'key']);
  const caKey = pick(main, ['ca.crt', 'cacert']) ?? pick(cacert, ['ca.crt', 'cacert']);
  const caWhere = pick(main, ['ca.crt', 'cacert']) !== undefined ? where : `Secret ${namespace}/${caSecretName(name)}`;
  if (certKey === undefined && keyKey === undefined && caKey === undefined) {
    return { error: `${where} has none of the keys tls.crt and tls.key, cert and key, ca.crt or cacert (and there is no ${caSecretName(name)} Secret with a CA)` };
  }
  if ((certKey === undefined) !== (keyKey === undefined)) {
    return { error: `${where} has ${certKey !== undefined ? `${certKey[0]} but no private key (tls.key or key)` : `${keyKey![0]} but no certificate (tls.crt or cert)`}` };
  }
  let cert: ReturnType<typeof parsePem> | undefined;
  let key: ReturnType<typeof parsePem> | undefined;
  if (certKey !== undefined && keyKey !== undefined) {
    cert = parsePem('clientCertificate', certKey[1]);
    if (typeof cert === 'string') return { error: `${where} key ${certKey[0]}: ${cert}` };
    key = parsePem('privateKey', keyKey[1]);
    if (typeof key === 'string') return { error: `${where} key ${keyKey[0]}: ${key}` };
    if (!(cert as X509Certificate).checkPrivateKey(key as KeyObject)) {
      return { error: `${where}: ${keyKey[0]} does not belong to ${certKey[0]} (the public keys differ)` };
    }
  }
  if (caKey !== undefined) {
    const ca = parsePem('caCertificates', caKey[1]);
    if (typeof ca === 'string') return { error: `${caWhere} key ${caKey[0]}: ${ca}` };
  }
  const h = createHash('sha256');
  for (const part of [certKey?.[1], keyKey?.[1], caKey?.[1]]) h.update(part ?? '').update('\0');
  return {
    material: {
      ...(certKey !== undefined ? { cert: certKey[1] } : {}),
      ...(keyKey !== undefined ? { key: keyKey[1] } : {}),
      ...(caKey !== undefined ? { ca: caKey[1] } : {}),
      version: h.digest('base64url').slice(0, 16),
    },
  };
}
