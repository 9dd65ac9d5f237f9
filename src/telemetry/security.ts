// Counters of request authentication and authorization beyond Istio's standard metrics, one set per
// registry (the agent's): JWKS fetches that failed, and dry-run AuthorizationPolicy verdicts.
import { Counter, type Registry } from './promlite';

export interface SecurityMetrics {
  /** nodemesh_jwks_fetch_failures_total{issuer} */
  readonly jwksFetchFailures: Counter<'issuer'>;
  /** nodemesh_authz_dry_run_total{policy,result}: result allow | deny, what the policy alone would decide. */
  readonly dryRun: Counter<'policy' | 'result'>;
}

const byRegistry = new WeakMap<Registry, SecurityMetrics>();

export function securityMetrics(registry: Registry): SecurityMetrics {
  let m = byRegistry.get(registry);
  if (m === undefined) {
    const registers = [registry];
    m = {
      jwksFetchFailures: new Counter({ name: 'nodemesh_jwks_fetch_failures_total', help: 'Failed fetches of a RequestAuthentication jwksUri, by issuer (the jwksUri for a rule without one; the last good keys, if any, stay in use)', labelNames: ['issuer'], registers }),
      dryRun: new Counter({ name: 'nodemesh_authz_dry_run_total', help: 'Requests and connections evaluated by dry-run AuthorizationPolicies (istio.io/dry-run), by policy and the result it would have enforced', labelNames: ['policy', 'result'], registers }),
    };
    byRegistry.set(registry, m);
  }
  return m;
}
