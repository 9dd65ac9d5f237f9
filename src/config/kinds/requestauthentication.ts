// RequestAuthentication: which JSON Web Tokens a workload accepts (verified by policy/jwt.ts with keys
// from inline `jwks` or fetched from `jwksUri`). As in Istio, a request without a token passes; one with
// a token that fails verification is refused with 401. targetRef(s) name the services whose traffic it
// applies to, instead of a selector of workloads.
import { Fields, type Item } from '../fields';
import { unusableKeys } from '../../identity/jwks-keys';
import type { IssueSink } from '../issues';
import type { JwtRule } from '../model';
import { readMetadata } from './metadata';
import { readPolicySelector } from './security';
import { readTargetServices } from './targetref';
import { durationMs } from './trafficfields';
import type { Origin, ParsedRequestAuthn } from './types';

const SPEC_FIELDS = ['selector', 'targetRef', 'targetRefs', 'jwtRules'];
const RULE_FIELDS = ['issuer', 'audiences', 'jwks', 'jwksUri', 'fromHeaders', 'fromParams', 'fromCookies', 'forwardOriginalToken', 'outputPayloadToHeader', 'outputClaimToHeaders', 'timeout', 'spaceDelimitedClaims'];
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function readRequestAuthentication(doc: Fields, origin: Origin): ParsedRequestAuthn | undefined {
  const before = doc.sink.issues.length;
  const meta = readMetadata(doc, []);
  const spec = doc.object('spec', SPEC_FIELDS);
  const selector = spec && readPolicySelector(spec);
  const targetServices = spec && readTargetServices(spec, meta?.namespace ?? 'default');
  const items = spec?.list('jwtRules') ?? [];
  const jwtRules = items.map((item) => readRule(doc.sink, item));
  const issuers = new Map<string, string>();
  jwtRules.forEach((r, i) => {
    const first = issuers.get(r.issuer);
    if (r.issuer !== '' && first !== undefined) doc.sink.report(`${items[i]?.path ?? ''}.issuer`, `issuer "${r.issuer}" is also in ${first} (one rule per issuer)`);
    else issuers.set(r.issuer, items[i]?.path ?? '');
  });
  if (meta === undefined || doc.sink.issues.length > before) return undefined;
  return { kind: 'RequestAuthentication', origin, policy: { name: meta.name, namespace: meta.namespace, selector, ...(targetServices !== undefined ? { targetServices } : {}), jwtRules } };
}

function readRule(sink: IssueSink, item: Item): JwtRule {
  const r = Fields.open(sink, item.path, item.value, RULE_FIELDS);
  const empty: JwtRule = { issuer: '', audiences: [], fromHeaders: [], fromParams: [], forwardOriginalToken: false, outputClaimToHeaders: [] };
  if (r === undefined) return empty;
  // As Istio validates a rule: issuer or jwksUri. Without an issuer, a token of any issuer that the keys
  // verify is accepted (Envoy checks no `iss` then).
  const uri = r.has('jwksUri');
  const issuer = r.string('issuer', { check: (s) => (s === '' && !uri ? 'must not be empty (or leave it out and set jwksUri)' : undefined) }) ?? '';
  if (!r.has('issuer') && !uri) r.report('issuer', 'required field is missing (it may be left out only with jwksUri, as in Istio)');
  const audiences = r.stringList('audiences', { check: (s) => (s === '' ? 'must not be empty' : undefined) }) ?? [];
  const jwks = r.string('jwks', { check: checkJwks });
  const jwksUri = r.string('jwksUri', { check: checkUri });
  if (r.has('jwks') && r.has('jwksUri')) r.report('jwksUri', 'set jwks or jwksUri, not both');
  else if (!r.has('jwks') && !r.has('jwksUri')) r.report('jwksUri', 'set jwksUri (or inline jwks): OpenID discovery of the keys is not supported');
  const fromHeaders = (r.list('fromHeaders') ?? []).map((h) => {
    const f = Fields.open(sink, h.path, h.value, ['name', 'prefix']);
    const name = f?.string('name', { required: true, check: checkHeaderName });
    const prefix = f?.string('prefix') ?? '';
    return { name: (name ?? '').toLowerCase(), prefix };
  });
  const fromParams = r.stringList('fromParams', { check: (s) => (s === '' ? 'must not be empty' : undefined) }) ?? [];
  const fromCookies = r.stringList('fromCookies', { check: (s) => (TOKEN.test(s) ? undefined : `"${s}" is not a cookie name`) }) ?? [];
  const timeoutMs = durationMs(r, 'timeout');
  const spaceDelimitedClaims = r.stringList('spaceDelimitedClaims', { check: (s) => (s === '' ? 'must not be empty' : undefined) }) ?? [];
  const forward = r.raw('forwardOriginalToken');
  if (forward !== undefined && typeof forward !== 'boolean') r.report('forwardOriginalToken', 'must be true or false');
  const outputPayloadToHeader = r.string('outputPayloadToHeader', { check: checkHeaderName });
  const outputClaimToHeaders = (r.list('outputClaimToHeaders') ?? []).map((h) => {
    const f = Fields.open(sink, h.path, h.value, ['header', 'claim']);
    const header = f?.string('header', { required: true, check: checkHeaderName }) ?? '';
    const claim = f?.string('claim', { required: true, check: (s) => (s === '' ? 'must not be empty' : undefined) }) ?? '';
    return { header: header.toLowerCase(), claim };
  });
  return {
    issuer,
    audiences,
    ...(jwks !== undefined ? { jwks } : {}),
    ...(jwksUri !== undefined ? { jwksUri } : {}),
    fromHeaders,
    fromParams,
    ...(fromCookies.length > 0 ? { fromCookies } : {}),
    forwardOriginalToken: forward === true,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(spaceDelimitedClaims.length > 0 ? { spaceDelimitedClaims } : {}),
    ...(outputPayloadToHeader !== undefined ? { outputPayloadToHeader: outputPayloadToHeader.toLowerCase() } : {}),
    outputClaimToHeaders,
  };
}

function checkHeaderName(s: string): string | undefined {
  return TOKEN.test(s) ? undefined : `"${s}" is not a valid header name`;
}

function checkUri(s: string): string | undefined {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return `"${s}" is not a URL (like https://issuer.example/.well-known/jwks.json)`;
  }
  return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : `"${s}": jwksUri must be an http or https URL`;
}

/** Inline keys: a JSON Web Key Set, `{"keys": [...]}` with each key an object with a `kty`. */
export function checkJwks(s: string): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch (e) {
    return `is not JSON (${(e as Error).message}); write a JSON Web Key Set {"keys": [...]}`;
  }
  const keys = (v as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) return 'must be a JSON Web Key Set with at least one key: {"keys": [...]}';
  // Every key must be able to verify tokens (type, alg, curve, material), so none fails per request.
  const bad = unusableKeys(keys);
  return bad.length === 0 ? undefined : `${bad.map((b) => `${b.key} ${b.problem}`).join('; ')}; fix or remove ${bad.length === 1 ? 'it' : 'them'}`;
}
