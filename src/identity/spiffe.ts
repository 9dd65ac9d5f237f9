// SPIFFE identities as Istio uses them: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`,
// and the scheme-less "principal" form `<trust-domain>/ns/<ns>/sa/<sa>` that AuthorizationPolicy and the
// `source_principal` metric label use. Pure: parsing is strict because an identity is a security
// decision, and two spellings of one identity (case, trailing slash, `%2F`) must never both be accepted.
import { checkNamespace, checkObjectName } from '../config/formats';
import { MeshError } from '../errors';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_SERVICE_ACCOUNT = 'default';

export interface SpiffeId {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

const SCHEME = 'spiffe://';

/**
 * SPIFFE trust domain: lowercase letters, digits, '.', '-', '_' (SPIFFE-ID spec §2.1; no port, no
 * userinfo, no uppercase — the spec makes SVID trust domains lowercase, so we compare them bytewise).
 */
export function checkTrustDomain(td: string): string | undefined {
  if (td.length > 0 && td.length <= 255 && /^[a-z0-9._-]+$/.test(td) && td !== '.' && td !== '..') return undefined;
  return `"${td}" is not a valid trust domain (lowercase letters, digits, '.', '-' and '_')`;
}

/** Parses `<td>/ns/<ns>/sa/<sa>` (what follows the scheme); undefined with a reason in `why`. */
function parseBody(body: string, why: string[]): SpiffeId | undefined {
  const parts = body.split('/');
  if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') {
    why.push('the path must be exactly /ns/<namespace>/sa/<service-account>');
    return undefined;
  }
  const [trustDomain, , namespace, , serviceAccount] = parts as [string, string, string, string, string];
  const problem = checkTrustDomain(trustDomain) ?? checkNamespace(namespace) ?? checkObjectName(serviceAccount);
  if (problem !== undefined) {
    why.push(problem);
    return undefined;
  }
  return { trustDomain, namespace, serviceAccount };
}

/** Parses `spiffe://td/ns/x/sa/y`; undefined when it is anything else. */
export function tryParseSpiffeId(uri: string): SpiffeId | undefined {
  if (!uri.startsWith(SCHEME)) return undefined;
  return parseBody(uri.slice(SCHEME.length), []);
}

/** Parses `spiffe://td/ns/x/sa/y`; throws NM_E_BAD_SPIFFE_ID naming the problem. */
export function parseSpiffeId(uri: string): SpiffeId {
  const why: string[] = [];
  const id = uri.startsWith(SCHEME) ? parseBody(uri.slice(SCHEME.length), why) : undefined;
  if (id === undefined) throw new MeshError('BAD_SPIFFE_ID', `${JSON.stringify(uri)}${why.length ? `: ${why[0]}` : ''}`, { id: uri });
  return id;
}

export function formatSpiffeId(id: SpiffeId): string {
  return `${SCHEME}${formatPrincipal(id)}`;
}

/** Istio principal form (no scheme), e.g. `cluster.local/ns/default/sa/echo`. */
export function formatPrincipal(id: SpiffeId): string {
  return `${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

export function tryParsePrincipal(p: string): SpiffeId | undefined {
  return p.includes('://') ? undefined : parseBody(p, []);
}

export function parsePrincipal(p: string): SpiffeId {
  const why: string[] = [];
  const id = p.includes('://') ? undefined : parseBody(p, why);
  if (id === undefined) throw new MeshError('BAD_SPIFFE_ID', `principal ${JSON.stringify(p)}${why.length ? `: ${why[0]}` : ''}`, { principal: p });
  return id;
}

/** `spiffe://td/ns/x/sa/y` → `td/ns/x/sa/y` (throws on anything that is not a valid SPIFFE id). */
export function principalOf(spiffeUri: string): string {
  return formatPrincipal(parseSpiffeId(spiffeUri));
}

/**
 * The SPIFFE id a workload runs as. Kubernetes runs a pod without `serviceAccountName` as `default`,
 * so a WorkloadEntry without `serviceAccount` gets that identity too (as in Istio).
 */
export function workloadIdentity(
  w: { readonly namespace: string; readonly serviceAccount?: string | undefined },
  trustDomain: string = DEFAULT_TRUST_DOMAIN,
): string {
  return formatSpiffeId({ trustDomain, namespace: w.namespace, serviceAccount: w.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT });
}

/**
 * The identity an X.509 SVID (or a CSR for one) names: it must carry exactly one URI SAN, and that
 * SAN must be a valid SPIFFE id. Several URIs would make "who is this" ambiguous, so they are refused
 * rather than picking one.
 */
export function svidIdentity(uriSans: readonly string[]): string {
  if (uriSans.length !== 1) {
    throw new MeshError('BAD_SPIFFE_ID', `an SVID must carry exactly one URI SAN, found ${uriSans.length}`, { uriSans: [...uriSans] });
  }
  const uri = uriSans[0] as string;
  parseSpiffeId(uri);
  return uri;
}
