// The root CA on disk: created once in the CA directory and reused on every later start, because a
// new root would invalidate every certificate already handed out and every root agents already trust.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MeshError } from '../errors';
import { certInfo, createRootCa, keyMatchesCert, type CaMaterial } from '../identity/certs';
import { logger } from '../log';

const log = logger('ca.store');

export const ROOT_CERT_FILE = 'root-cert.pem';
export const ROOT_KEY_FILE = 'root-key.pem';

export interface LoadedRoot {
  readonly ca: CaMaterial;
  readonly created: boolean;
}

/** Writes via a temp file and rename so a crash never leaves a truncated key or certificate behind. */
function writeAtomic(file: string, data: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode); // the umask may have narrowed or (for 0644) kept bits we did not ask for
  renameSync(tmp, file);
}

export async function loadOrCreateRoot(dir: string, trustDomain: string, ttlDays = 3650): Promise<LoadedRoot> {
  const certFile = join(dir, ROOT_CERT_FILE);
  const keyFile = join(dir, ROOT_KEY_FILE);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new MeshError('CA_STORE', `${dir}: ${(e as Error).message}`, { dir }, { cause: e });
  }
  const haveCert = existsSync(certFile);
  const haveKey = existsSync(keyFile);
  if (haveCert !== haveKey) {
    // Never overwrite half a CA: the missing half may be on its way back from a backup.
    throw new MeshError('CA_STORE', `${dir} has ${haveCert ? ROOT_CERT_FILE : ROOT_KEY_FILE} but not ${haveCert ? ROOT_KEY_FILE : ROOT_CERT_FILE}`, { dir });
  }
  if (haveCert) return { ca: readRoot(certFile, keyFile, trustDomain), created: false };
  const ca = await createRootCa(trustDomain, ttlDays);
  try {
    writeAtomic(keyFile, ca.keyPem, 0o600);
    writeAtomic(certFile, ca.certPem, 0o644);
  } catch (e) {
    throw new MeshError('CA_STORE', `${dir}: ${(e as Error).message}`, { dir }, { cause: e });
  }
  log.info({ dir, trustDomain, serial: certInfo(ca.certPem).serial }, 'created a new root CA');
  return { ca, created: true };
}

function readRoot(certFile: string, keyFile: string, trustDomain: string): CaMaterial {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(certFile, 'utf8');
    keyPem = readFileSync(keyFile, 'utf8');
    const mode = statSync(keyFile).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      log.warn({ file: keyFile, mode: mode.toString(8) }, 'root key readable by others; tightening to 0600');
      chmodSync(keyFile, 0o600);
    }
  } catch (e) {
    throw new MeshError('CA_STORE', (e as Error).message, { certFile, keyFile }, { cause: e });
  }
  const ca = checkRoot({ certPem, keyPem }, { cert: certFile, key: keyFile });
  log.info({ file: certFile, trustDomain, serial: certInfo(certPem).serial }, 'reusing the root CA');
  return ca;
}

/**
 * A stored root is usable: a certificate, the key that belongs to it, not expired. `where` names the
 * two places (files, Secret keys) in the NM_E_CA_STORE error.
 */
export function checkRoot(root: CaMaterial, where: { readonly cert: string; readonly key: string }): CaMaterial {
  let notAfter: Date;
  try {
    notAfter = certInfo(root.certPem).notAfter;
  } catch (e) {
    throw new MeshError('CA_STORE', `${where.cert} is not a certificate: ${(e as Error).message}`, { ...where }, { cause: e });
  }
  if (!keyMatchesCert(root.keyPem, root.certPem)) throw new MeshError('CA_STORE', `${where.key} does not belong to ${where.cert}`, { ...where });
  if (notAfter.getTime() <= Date.now()) throw new MeshError('CA_STORE', `${where.cert} expired on ${notAfter.toISOString()}`, { ...where });
  return root;
}
