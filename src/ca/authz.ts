// Who may get which certificate. A node agent holds one credential (its node token) but proxies for
// every pod on its node, so it asks for many identities; the CA lets it have exactly the identities of
// workloads scheduled on its own node, so a compromised node cannot mint another node's identities.
// Pure: the CA server feeds it the caller's node, the CSR's SANs and the current topology (the config's
// WorkloadEntries and the API's pods alike).
import { tryParseSpiffeId, workloadIdentity } from '../identity/spiffe';

export interface TopologyWorkload {
  readonly namespace: string;
  readonly serviceAccount?: string | undefined;
  /** Node the workload runs on; a workload with no known node authorizes nobody. */
  readonly node?: string | undefined;
}

export interface CsrRequest {
  /** URI SANs found in the CSR. */
  readonly uriSans: readonly string[];
  /** Metadata `ImpersonatedIdentity`: null when present but not a string, undefined when absent. */
  readonly impersonatedIdentity?: string | null | undefined;
}

export interface AuthorizeInput {
  readonly callerNode: string;
  readonly requested: CsrRequest;
  readonly workloads: readonly TopologyWorkload[];
  readonly trustDomain: string;
  /**
   * false while the pod list from the API is not complete yet: an identity not found on the node may
   * then still appear, so the answer is "retry" (UNAVAILABLE) rather than a refusal. Default true.
   */
  readonly topologyComplete?: boolean;
}

export type AuthzDecision =
  | { readonly ok: true; readonly identity: string }
  | { readonly ok: false; readonly code: 'INVALID_ARGUMENT' | 'PERMISSION_DENIED' | 'UNAVAILABLE'; readonly reason: string };

export function authorizeCsr(input: AuthorizeInput): AuthzDecision {
  const { callerNode, requested, workloads, trustDomain } = input;
  const sans = requested.uriSans;
  // Shape problems are the requester's mistake (INVALID_ARGUMENT), not a policy refusal.
  if (sans.length === 0) return { ok: false, code: 'INVALID_ARGUMENT', reason: 'the CSR carries no URI SAN' };
  if (sans.length > 1) return { ok: false, code: 'INVALID_ARGUMENT', reason: `the CSR carries ${sans.length} URI SANs; exactly one is allowed` };
  const identity = sans[0] as string;
  const id = tryParseSpiffeId(identity);
  if (id === undefined) return { ok: false, code: 'INVALID_ARGUMENT', reason: `${JSON.stringify(identity)} is not a SPIFFE id spiffe://<td>/ns/<ns>/sa/<sa>` };
  if (requested.impersonatedIdentity === null) return { ok: false, code: 'INVALID_ARGUMENT', reason: 'metadata ImpersonatedIdentity must be a string' };
  if (requested.impersonatedIdentity !== undefined && requested.impersonatedIdentity !== identity) {
    return { ok: false, code: 'PERMISSION_DENIED', reason: `ImpersonatedIdentity ${requested.impersonatedIdentity} does not match the CSR's ${identity}` };
  }
  if (id.trustDomain !== trustDomain) {
    return { ok: false, code: 'PERMISSION_DENIED', reason: `trust domain ${id.trustDomain} is not this CA's (${trustDomain})` };
  }
  if (callerNode === '') return { ok: false, code: 'PERMISSION_DENIED', reason: 'the caller has no node' };
  const onNode = workloads.some((w) => w.node === callerNode && workloadIdentity(w, trustDomain) === identity);
  if (!onNode && input.topologyComplete === false) {
    return { ok: false, code: 'UNAVAILABLE', reason: `the pod list is not synced yet; ${identity} on node ${callerNode} is not known so far` };
  }
  if (!onNode) return { ok: false, code: 'PERMISSION_DENIED', reason: `no workload with identity ${identity} runs on node ${callerNode}` };
  return { ok: true, identity };
}
