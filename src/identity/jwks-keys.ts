// Which keys of a JSON Web Key Set can verify tokens, and which of them a token names, as Envoy's
// jwt_authn (so Istio) has it: RSA keys verify RS256/384/512 and PS256/384/512, EC keys ES256/384/512
// (on the matching curve), OKP keys EdDSA (Ed25519), and symmetric `oct` keys HS256/384/512 with the
// secret in `k`. A key that cannot verify any token is named with the reason when the config is read
// (inline `jwks`) or when a set is fetched (jwksUri), never found out per request. Pure: node's crypto
// only parses the key material.
import { createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto';
import type { JSONWebKeySet, JWK } from 'jose';

/** The token algorithms each key type verifies. */
const ALGS: Readonly<Record<string, readonly string[]>> = {
  RSA: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  EC: ['ES256', 'ES384', 'ES512'],
  OKP: ['EdDSA'],
  oct: ['HS256', 'HS384', 'HS512'],
};

/** The curve of each EC algorithm. */
const EC_CURVES: Readonly<Record<string, string>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

/** Every algorithm a token may be signed with. */
export const TOKEN_ALGS: readonly string[] = Object.values(ALGS).flat();

/** RSA keys shorter than this are refused by the verifier (as by jose). */
export const MIN_RSA_BITS = 2048;

/** The least secret of an HMAC key, in bytes: the hash size (RFC 7518 §3.2). */
export const MIN_HMAC_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

const B64URL = /^[A-Za-z0-9_-]+$/;

const quoted = (v: unknown): string => (typeof v === 'string' ? `"${v}"` : JSON.stringify(v) ?? String(v));

/**
 * Why KEY cannot verify tokens (a sentence to follow the key's name), or undefined when it can. Checks
 * the type, `use`/`key_ops`, `alg` against the type, the curve, and that the material parses.
 */
export function jwkProblem(key: unknown): string | undefined {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) return 'is not a JSON Web Key (an object with "kty")';
  const k = key as Record<string, unknown>;
  const kty = k['kty'];
  if (typeof kty !== 'string') return 'has no "kty"';
  const algs = Object.hasOwn(ALGS, kty) ? ALGS[kty]! : undefined;
  if (algs === undefined) return `has kty ${quoted(kty)}, which cannot verify tokens (use RSA, EC, OKP or oct)`;
  const use = k['use'];
  if (use !== undefined && use !== 'sig') return `has use ${quoted(use)}: only signature keys ("sig") verify tokens`;
  const ops = k['key_ops'];
  if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) return 'has key_ops without "verify"';
  const alg = k['alg'];
  if (alg !== undefined && (typeof alg !== 'string' || !algs.includes(alg))) return `has alg ${quoted(alg)}, which a kty "${kty}" key cannot verify (it verifies ${algs.join(', ')})`;
  if (kty === 'oct') {
    const secret = k['k'];
    if (typeof secret !== 'string' || secret === '') return 'is a kty "oct" key without its secret: set "k" to the secret, base64url-encoded';
    if (!B64URL.test(secret)) return 'has a "k" that is not base64url: write the secret base64url-encoded (A-Z, a-z, 0-9, "-" and "_", no "=" padding)';
    const bytes = secretBytes(secret);
    if (bytes === 0) return 'has an empty secret in "k"';
    // A key without alg serves the HS algorithms its secret is long enough for: at least HS256.
    const need = MIN_HMAC_BYTES[typeof alg === 'string' ? alg : 'HS256']!;
    if (bytes < need) {
      const what = typeof alg === 'string' ? `${alg} needs at least ${need}` : 'HS256 needs at least 32 (HS384 48, HS512 64)';
      return `has a secret of ${bytes} byte${bytes === 1 ? '' : 's'} in "k": ${what}, the hash size (RFC 7518 §3.2); use a longer secret`;
    }
    return undefined;
  }
  const crv = k['crv'];
  if (kty === 'EC') {
    const want = typeof alg === 'string' ? EC_CURVES[alg] : undefined;
    if (want !== undefined && crv !== want) return `has alg ${alg} but crv ${quoted(crv)} (${alg} needs ${want})`;
    if (!Object.values(EC_CURVES).includes(crv as string)) return `has crv ${quoted(crv)}: EC keys verify on P-256, P-384 or P-521`;
  }
  if (kty === 'OKP' && crv !== 'Ed25519') return `has crv ${quoted(crv)}: OKP keys verify EdDSA on Ed25519`;
  try {
    const pub = createPublicKey({ key: publicPart(k) as NodeJwk, format: 'jwk' });
    const bits = pub.asymmetricKeyDetails?.modulusLength;
    if (kty === 'RSA' && bits !== undefined && bits < MIN_RSA_BITS) return `is an RSA key of ${bits} bits: RSA keys need at least ${MIN_RSA_BITS}`;
  } catch (e) {
    return `is not a valid ${kty} public key (${(e as Error).message})`;
  }
  return undefined;
}

/** The members of KEY that make its public key (a private `d` and the like left out). */
export function publicPart(k: Readonly<Record<string, unknown>>): JWK {
  const pick = (names: readonly string[]): JWK => Object.fromEntries(names.filter((n) => k[n] !== undefined).map((n) => [n, k[n]])) as JWK;
  switch (k['kty']) {
    case 'RSA':
      return pick(['kty', 'n', 'e']);
    case 'EC':
      return pick(['kty', 'crv', 'x', 'y']);
    case 'OKP':
      return pick(['kty', 'crv', 'x']);
    default:
      return pick(['kty', 'k']);
  }
}

/** How a key reads in a message: its position and kid, type and alg. */
export function keyName(key: unknown, index: number): string {
  const k = (typeof key === 'object' && key !== null ? key : {}) as Record<string, unknown>;
  const kid = typeof k['kid'] === 'string' ? ` (kid "${k['kid']}")` : '';
  return `keys[${index}]${kid}`;
}

/** Every key of KEYS that cannot verify tokens, named, with why. */
export function unusableKeys(keys: readonly unknown[]): { readonly key: string; readonly problem: string }[] {
  const out: { key: string; problem: string }[] = [];
  keys.forEach((k, i) => {
    const problem = jwkProblem(k);
    if (problem !== undefined) out.push({ key: keyName(k, i), problem });
  });
  return out;
}

const checked = new WeakMap<object, boolean>();

/** jwkProblem(KEY) === undefined, remembered per key object (sets are kept for a config or a fetch). */
export function usable(key: JWK): boolean {
  let ok = checked.get(key);
  if (ok === undefined) checked.set(key, (ok = jwkProblem(key) === undefined));
  return ok;
}

/** The length in bytes of the secret S, unpadded base64url. */
function secretBytes(s: string): number {
  return Math.floor((s.length * 3) / 4);
}

/**
 * Whether a usable KEY can verify ALG at all (its type, for EC its curve, for oct a secret at least
 * ALG's hash size).
 */
function fits(key: JWK, alg: string): boolean {
  if (!(ALGS[key.kty ?? '']?.includes(alg) ?? false)) return false;
  if (key.kty === 'oct') return secretBytes(key.k ?? '') >= (MIN_HMAC_BYTES[alg] ?? Infinity);
  return key.kty !== 'EC' || EC_CURVES[alg] === key.crv;
}

/**
 * The keys of SET to try for a token signed with ALG naming KID, in order (Envoy's selection): a key
 * with another kid is skipped (a key without one is tried for any), a key with an alg is tried only for
 * that alg, and only keys of a type that verifies ALG are tried. Unusable keys are never tried.
 */
export function candidateKeys(set: JSONWebKeySet, alg: string, kid: string | undefined): JWK[] {
  return set.keys.filter((k) => usable(k) && (kid === undefined || k.kid === undefined || k.kid === kid) && (k.alg === undefined || k.alg === alg) && fits(k, alg));
}

/** The keys of SET in a message: `kid "k1" (oct, HS256), ...`. */
export function describeKeys(set: JSONWebKeySet): string {
  if (set.keys.length === 0) return 'the set has no keys';
  return set.keys
    .map((k, i) => `${k.kid !== undefined ? `kid "${k.kid}"` : `keys[${i}]`} (${[k.kty, k.alg].filter((s) => s !== undefined).join(', ')}${usable(k) ? '' : ', unusable'})`)
    .join(', ');
}
