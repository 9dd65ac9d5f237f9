// ServiceEntry subjectAltNames over mesh mTLS: the identities an endpoint of the service must present.
// The peer agent presents the endpoint's own workload identity, so the check is decided before dialling:
// the tunnel verifies that identity (client.ts), and it must be one the services allow.

/**
 * The allowed identities of an endpoint from the services that contain it: undefined (any: its own
 * identity) when one of them sets no subjectAltNames, else the union of their lists.
 */
export function mergeSubjectAltNames(lists: readonly (readonly string[] | undefined)[]): readonly string[] | undefined {
  if (lists.length === 0 || lists.some((l) => l === undefined)) return undefined;
  return [...new Set(lists.flatMap((l) => l ?? []))];
}

/** Whether the endpoint identity OWN may be tunnelled to under ALLOWED (undefined = no restriction). */
export function identityAllowed(own: string, allowed: readonly string[] | undefined): boolean {
  return allowed === undefined || allowed.includes(own);
}
