// Which DestinationRule applies to a service when rules name wildcard hosts, as Istio resolves it
// (MostSpecificHostMatch): a rule for the exact host first, then the wildcard rule with the longest
// suffix the host ends with; `*` covers every host and comes last. A service host that is itself a
// wildcard (`*.example.com`) takes a rule for that same wildcard first, then a shorter wildcard that
// covers it (`*.com`, `*`), never a longer one or a single name under it. Pure.

/** A rule host that names an exact wildcard host of the service: ranked above every suffix match. */
export const EXACT_RANK = Number.MAX_SAFE_INTEGER;

/**
 * How specifically the wildcard rule host RULE (`*` or `*.suffix`) covers a service with HOSTS: the
 * length of the suffix it matches (`*` is 0), EXACT_RANK for an equal wildcard host, or undefined
 * when it covers none of them. Higher wins.
 */
export function wildcardRank(rule: string, hosts: readonly string[]): number | undefined {
  const r = rule.toLowerCase();
  const suffix = r.slice(1); // '' for '*', '.example.com' for '*.example.com'
  let best: number | undefined;
  for (const raw of hosts) {
    const h = raw.toLowerCase();
    let rank: number | undefined;
    if (h === r) rank = EXACT_RANK;
    else if (h.startsWith('*')) rank = h.slice(1).endsWith(suffix) ? suffix.length : undefined;
    else rank = h.endsWith(suffix) ? suffix.length : undefined;
    if (rank !== undefined && (best === undefined || rank > best)) best = rank;
  }
  return best;
}

/**
 * Of wildcard RULES (in config order), the one that applies to a service with HOSTS, or undefined.
 * Two rules of the same rank (a service with several hosts) go to the first in order.
 */
export function mostSpecific<T extends { readonly host: string }>(rules: readonly T[], hosts: readonly string[]): T | undefined {
  let best: T | undefined;
  let bestRank = -1;
  for (const rule of rules) {
    const rank = wildcardRank(rule.host, hosts);
    if (rank !== undefined && rank > bestRank) {
      best = rule;
      bestRank = rank;
    }
  }
  return best;
}
