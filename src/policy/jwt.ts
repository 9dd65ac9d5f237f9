// Request authentication (RequestAuthentication): which JWT rules apply to a workload, where a request's
// tokens are, and whether they verify. Keys come from the caller (inline JWKS, or what the JWKS cache
// fetched), so deciding does no I/O; jose does the cryptography. Istio's semantics:
// - no token anywhere: the request passes unauthenticated (an AuthorizationPolicy may still require one);
// - a token whose issuer no rule names, or that fails verification: 401 with Envoy's jwt_authn wording;
// - a verified token sets request.auth.* for authorization, and its header is removed before forwarding
//   unless forwardOriginalToken is set; outputPayloadToHeader / outputClaimToHeaders add fields.
import type * as Jose from 'jose';
import type { JSONWebKeySet, JWTPayload } from 'jose';
import { ROOT_NAMESPACE, type JwtRule, type RequestAuthn } from '../config/model';
import { selects } from '../config/kinds/security';
import type { RequestAuth } from './match';
import type { PolicyWorkload } from './authz';
import { candidateKeys, describeKeys, publicPart, TOKEN_ALGS } from '../identity/jwks-keys';

/** Envoy's default allowed clock skew for exp/nbf. */
export const CLOCK_SKEW_S = 60;

/** Envoy's jwt_authn failure texts (the 401 body). */
export const JWT_FAILURES = {
  malformed: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  issuer: 'Jwt issuer is not configured',
  expired: 'Jwt is expired',
  notYetValid: 'Jwt not yet valid',
  audience: 'Audiences in Jwt are not allowed',
  noKey: 'Jwks doesn\'t have key to match kid or alg from Jwt',
  noKeys: 'Jwks remote fetch is failed',
  invalid: 'Jwt verification fails',
} as const;

/**
 * RequestAuthentications of WORKLOAD's namespace and of the root namespace whose selector it satisfies,
 * and those whose targetRef(s) name SERVICE (the service key the request was addressed to).
 */
export function jwtRulesFor(workload: PolicyWorkload, all: readonly RequestAuthn[], rootNamespace: string = ROOT_NAMESPACE, service?: string): JwtRule[] {
  return all
    .filter((p) =>
      p.targetServices !== undefined
        ? service !== undefined && p.targetServices.includes(service)
        : (p.namespace === rootNamespace || p.namespace === workload.namespace) && selects(p.selector, workload.labels),
    )
    .flatMap((p) => p.jwtRules);
}

/** One place a token is read from. */
export type TokenLocation = { readonly header: string; readonly prefix: string } | { readonly param: string } | { readonly cookie: string };

const DEFAULT_LOCATIONS: readonly TokenLocation[] = [{ header: 'authorization', prefix: 'Bearer ' }, { param: 'access_token' }];

export function locationsOf(rule: JwtRule): readonly TokenLocation[] {
  const cookies = rule.fromCookies ?? [];
  if (rule.fromHeaders.length === 0 && rule.fromParams.length === 0 && cookies.length === 0) return DEFAULT_LOCATIONS;
  return [...rule.fromHeaders.map((h) => ({ header: h.name, prefix: h.prefix })), ...rule.fromParams.map((param) => ({ param })), ...cookies.map((cookie) => ({ cookie }))];
}

const sameLocation = (a: TokenLocation, b: TokenLocation): boolean =>
  'header' in a ? 'header' in b && a.header === b.header && a.prefix === b.prefix : 'param' in a ? 'param' in b && a.param === b.param : 'cookie' in b && a.cookie === b.cookie;

/** What extraction reads of a request. */
export interface TokenSource {
  /** A field by lower-case name (repeated fields joined with ", "). */
  header(name: string): string | undefined;
  /** The request target (path and query). */
  readonly path: string;
}

export interface FoundToken {
  readonly token: string;
  readonly at: TokenLocation;
}

/** The tokens in REQ at the locations RULES read, each location once, in rule order. */
export function extractTokens(rules: readonly JwtRule[], req: TokenSource): FoundToken[] {
  const seen: TokenLocation[] = [];
  const found: FoundToken[] = [];
  let query: URLSearchParams | undefined;
  for (const at of rules.flatMap(locationsOf)) {
    if (seen.some((s) => sameLocation(s, at))) continue;
    seen.push(at);
    let token: string | undefined;
    if ('header' in at) {
      const v = req.header(at.header)?.trim();
      // The prefix is matched case-insensitively ("bearer" is as good as "Bearer").
      if (v !== undefined && v.length > at.prefix.length && v.slice(0, at.prefix.length).toLowerCase() === at.prefix.toLowerCase()) token = v.slice(at.prefix.length).trim();
    } else if ('cookie' in at) {
      token = cookieValue(req.header('cookie'), at.cookie);
    } else {
      const q = req.path.indexOf('?');
      if (q >= 0) {
        query ??= new URLSearchParams(req.path.slice(q + 1).split('#')[0]);
        token = query.get(at.param) ?? undefined;
      }
    }
    if (token !== undefined && token !== '') found.push({ token, at });
  }
  return found;
}

/** The value of cookie NAME in a Cookie header (fields joined by ", " or "; "), the first one if repeated. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(/;|, /)) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    const v = pair.slice(eq + 1).trim();
    return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
  }
  return undefined;
}

/** Keys for a rule: its inline JWKS, or the last set fetched from its jwksUri (undefined: none yet). */
export type KeysFor = (rule: JwtRule) => JSONWebKeySet | undefined;

export type AuthnOutcome =
  | {
      readonly kind: 'pass';
      /** The first verified token's attributes; undefined when the request carried no token. */
      readonly auth: RequestAuth | undefined;
      /** Header fields to drop (the tokens' own, unless forwarded) and to set, before forwarding. */
      readonly remove: readonly string[];
      readonly set: readonly (readonly [string, string])[];
    }
  /** BODY: Envoy's words for the client; CAUSE: what exactly failed, for the debug log. */
  | { readonly kind: 'deny'; readonly status: 401; readonly body: string; readonly issuer?: string; readonly cause: string }
  /** A key set is missing or lacks the token's kid: fetch these rules' jwksUri again, then decide with final. */
  | { readonly kind: 'refresh'; readonly rules: readonly JwtRule[] };

/** jose, loaded with the first token to check: an agent whose requests carry none never loads it. */
let joseLib: typeof Jose | undefined;
async function jose(): Promise<typeof Jose> {
  return (joseLib ??= await import('jose'));
}

/** Istio's request authentication for one request. FINAL: keys were just refreshed; never ask again. */
export async function authenticate(rules: readonly JwtRule[], req: TokenSource, keysFor: KeysFor, nowS: number, final = false): Promise<AuthnOutcome> {
  let auth: RequestAuth | undefined;
  const remove: string[] = [];
  const set: [string, string][] = [];
  const refresh: JwtRule[] = [];
  for (const found of extractTokens(rules, req)) {
    let iss: string | undefined;
    try {
      iss = (joseLib ?? (await jose())).decodeJwt(found.token).iss;
    } catch (e) {
      return deny(JWT_FAILURES.malformed, undefined, `the token cannot be decoded (${(e as Error).message})`);
    }
    const here = (r: JwtRule): boolean => locationsOf(r).some((l) => sameLocation(l, found.at));
    // The rule naming the token's issuer; else a rule without an issuer (it takes any).
    const rule = rules.find((r) => r.issuer === iss && here(r)) ?? rules.find((r) => r.issuer === '' && here(r));
    if (rule === undefined) return deny(JWT_FAILURES.issuer, iss, `no jwtRule has issuer ${JSON.stringify(iss) ?? '(none)'} for a token in ${where(found.at)}`);
    const keys = keysFor(rule);
    const v = keys === undefined ? failed('noKeys', `no keys fetched from ${rule.jwksUri ?? 'the jwksUri'} yet`) : await verify(found.token, rule, keys, nowS);
    if (!v.ok) {
      if ((v.failure === 'noKeys' || v.failure === 'noKey') && rule.jwksUri !== undefined && !final) {
        refresh.push(rule);
        continue;
      }
      return deny(JWT_FAILURES[v.failure], rule.issuer, v.cause);
    }
    auth ??= authOf(v.payload, rule.spaceDelimitedClaims);
    if (!rule.forwardOriginalToken && 'header' in found.at) remove.push(found.at.header);
    if (rule.outputPayloadToHeader !== undefined) set.push([rule.outputPayloadToHeader, found.token.split('.')[1] ?? '']);
    for (const o of rule.outputClaimToHeaders) {
      const value = claimText(v.payload, o.claim);
      if (value !== undefined) set.push([o.header, value]);
    }
  }
  if (refresh.length > 0) return { kind: 'refresh', rules: refresh };
  return { kind: 'pass', auth, remove, set };
}

function deny(body: string, issuer: string | undefined, cause: string): AuthnOutcome {
  return { kind: 'deny', status: 401, body, ...(issuer !== undefined ? { issuer } : {}), cause };
}

const where = (at: TokenLocation): string => ('header' in at ? `header ${at.header}` : 'param' in at ? `parameter ${at.param}` : `cookie ${at.cookie}`);

type Failure = keyof typeof JWT_FAILURES;
type Verified = { readonly ok: true; readonly payload: JWTPayload } | { readonly ok: false; readonly failure: Failure; readonly cause: string };

const failed = (failure: Failure, cause: string): Verified => ({ ok: false, failure, cause });

/** Imported keys per key object of a set and algorithm (sets are kept for a config or a fetch). */
const imported = new WeakMap<object, Map<string, Promise<Jose.CryptoKey | Uint8Array>>>();

function keyFor(lib: typeof Jose, jwk: Jose.JWK, alg: string): Promise<Jose.CryptoKey | Uint8Array> {
  let byAlg = imported.get(jwk);
  if (byAlg === undefined) imported.set(jwk, (byAlg = new Map()));
  let key = byAlg.get(alg);
  if (key === undefined) byAlg.set(alg, (key = lib.importJWK(publicPart(jwk), alg)));
  return key;
}

const named = (k: Jose.JWK): string => `${k.kid !== undefined ? `kid "${k.kid}"` : 'the key without kid'} (${k.kty ?? '?'})`;

/**
 * Signature by a key of KEYS the token's kid and alg select (identity/jwks-keys.ts: Envoy's selection;
 * several are tried in turn), then issuer (when the rule names one), audiences, exp and nbf with Envoy's
 * clock skew. A failure says its cause for the debug log, beside Envoy's words for the 401 body.
 */
export async function verify(token: string, rule: JwtRule, keys: JSONWebKeySet, nowS: number): Promise<Verified> {
  const lib = joseLib ?? (await jose());
  let header: Jose.ProtectedHeaderParameters;
  try {
    header = lib.decodeProtectedHeader(token);
  } catch (e) {
    return failed('malformed', `the token header cannot be read (${(e as Error).message})`);
  }
  const alg = header.alg;
  if (typeof alg !== 'string' || !TOKEN_ALGS.includes(alg)) return failed('invalid', `the token's alg ${JSON.stringify(alg) ?? 'undefined'} is not supported (${TOKEN_ALGS.join(', ')})`);
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const candidates = candidateKeys(keys, alg, kid);
  if (candidates.length === 0) return failed('noKey', `no key verifies ${alg}${kid !== undefined ? ` with kid "${kid}"` : ''}; the JWKS has ${describeKeys(keys)}`);
  const options: Jose.JWTVerifyOptions = {
    algorithms: [alg],
    ...(rule.issuer !== '' ? { issuer: rule.issuer } : {}),
    ...(rule.audiences.length > 0 ? { audience: [...rule.audiences] } : {}),
    currentDate: new Date(nowS * 1000),
    clockTolerance: CLOCK_SKEW_S,
  };
  const tried: string[] = [];
  for (const jwk of candidates) {
    let key: Jose.CryptoKey | Uint8Array;
    try {
      key = await keyFor(lib, jwk, alg);
    } catch (e) {
      tried.push(`${named(jwk)} cannot be used for ${alg}: ${(e as Error).message}`);
      continue;
    }
    try {
      const { payload } = await lib.jwtVerify(token, key, options);
      return { ok: true, payload };
    } catch (e) {
      // The signature is checked first: any other failure is of a token this key signed.
      if (e instanceof lib.errors.JWSSignatureVerificationFailed) {
        tried.push(`the ${alg} signature does not verify with ${named(jwk)}`);
        continue;
      }
      return failed(failureOf(lib.errors, e), `${(e as Error).message} (signed with ${named(jwk)})`);
    }
  }
  return failed('invalid', tried.join('; '));
}

function failureOf(errors: typeof Jose.errors, e: unknown): Failure {
  if (e instanceof errors.JWTExpired) return 'expired';
  if (e instanceof errors.JWTClaimValidationFailed) return e.claim === 'aud' ? 'audience' : e.claim === 'nbf' ? 'notYetValid' : 'invalid';
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) return 'malformed';
  return 'invalid';
}

/** Top-level claims whose string value `when` conditions match word by word, as Istio has them by default. */
export const SPACE_DELIMITED_CLAIMS: readonly string[] = ['scope', 'permission'];

/**
 * request.auth.*: principal `iss/sub`, audiences from `aud`, presenter from `azp`, all claims. A string
 * claim named in SPACE_DELIMITED_CLAIMS or SPACE_DELIMITED (top-level names) becomes the list of its
 * space-separated words, as Envoy normalizes the payload that authorization reads.
 */
export function authOf(payload: JWTPayload, spaceDelimited: readonly string[] = []): RequestAuth {
  const aud = payload.aud;
  const azp = payload['azp'];
  return {
    principal: `${payload.iss ?? ''}/${payload.sub ?? ''}`,
    audiences: aud === undefined ? [] : typeof aud === 'string' ? [aud] : aud,
    presenter: typeof azp === 'string' ? azp : undefined,
    claims: splitClaims(payload, spaceDelimited),
  };
}

function splitClaims(payload: JWTPayload, extra: readonly string[]): Readonly<Record<string, unknown>> {
  let out: Record<string, unknown> | undefined;
  for (const name of [...SPACE_DELIMITED_CLAIMS, ...extra]) {
    const v = Object.hasOwn(payload, name) ? payload[name] : undefined;
    if (typeof v !== 'string') continue;
    out ??= { ...payload };
    out[name] = v.split(' ').filter((w) => w !== '');
  }
  return out ?? payload;
}

/** A claim as a header value (`a.b` reads nested objects): text, numbers and booleans; lists joined by ",". */
export function claimText(payload: JWTPayload, claim: string): string | undefined {
  let v: unknown = payload;
  for (const k of claim.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  const one = (x: unknown): string | undefined => (typeof x === 'string' ? x : typeof x === 'number' || typeof x === 'boolean' ? String(x) : undefined);
  if (Array.isArray(v)) {
    const parts = v.map(one);
    return parts.every((p) => p !== undefined) ? parts.join(',') : undefined;
  }
  const text = one(v);
  // A header value cannot carry line breaks.
  return text !== undefined && !/[\r\n\0]/.test(text) ? text : undefined;
}

const inline = new WeakMap<JwtRule, JSONWebKeySet>();

/** The parsed inline JWKS of RULE (validated when the config was loaded), parsed once. */
export function inlineKeys(rule: JwtRule): JSONWebKeySet | undefined {
  if (rule.jwks === undefined) return undefined;
  let k = inline.get(rule);
  if (k === undefined) {
    k = JSON.parse(rule.jwks) as JSONWebKeySet;
    inline.set(rule, k);
  }
  return k;
}
