// AuthorizationPolicy decisions with Istio's semantics, compiled once per config and evaluated per
// request or connection. Pure: the caller supplies the request attributes and the applicable policies.
//
// Order (Istio): any matching DENY → deny; no ALLOW policy for the workload → allow; any matching ALLOW
// → allow; otherwise deny. AUDIT policies never change the decision; a match is only reported.
//
// TCP (no `http` in the request), as Istio builds its TCP filter chains: methods, paths, hosts and
// request.headers (and their not-forms) cannot be evaluated.
// - ALLOW: a rule using any of them, anywhere, is dropped; it never matches, so the policy can only get
//   narrower. The policy itself still exists, so a workload whose ALLOW policies are all HTTP-only
//   denies every TCP connection.
// - DENY and AUDIT: only those fields are dropped and the rest of the rule still applies, so the
//   policy gets wider: `to: [{operation: {methods: [POST], ports: ["8080"]}}]` denies all TCP on 8080,
//   and without the port it would deny all TCP. Scope DENY policies with ports.
import { ROOT_NAMESPACE, type AuthzAction, type AuthzCondition, type AuthzOperation, type AuthzPolicy, type AuthzRule, type AuthzSource } from '../config/model';
import { claimOfKey, headerOfKey, selects } from '../config/kinds/security';
import { anyValueTest, claimValues, headerTest, ipTest, pathTest, portTest, serviceAccountTest, stringTest, trustDomainTest, viewOf, type AuthzRequest, type Test } from './match';

export type { AuthzRequest } from './match';

export interface AuthzDecision {
  readonly allowed: boolean;
  /**
   * deny-policy: a DENY policy matched; no-policies: no ALLOW policy applies to the workload (and no DENY
   * matched); allowed: an ALLOW policy matched; no-allow-match: ALLOW policies apply, none matched.
   */
  readonly reason: 'deny-policy' | 'no-allow-match' | 'allowed' | 'no-policies';
  /** "namespace/name" of the DENY or ALLOW policy that decided, when one did. */
  readonly policy?: string;
  /** An AUDIT policy matched: the request should be logged for audit. */
  readonly audited: boolean;
  /** Dry-run policies (annotation istio.io/dry-run): what each would have decided alone. Never enforced. */
  readonly dryRun?: readonly DryRunResult[];
}

/**
 * A dry-run policy's verdict on one request, as if it were the only policy: a DENY policy denies when
 * it matches, an ALLOW policy allows when it matches and denies otherwise; an AUDIT one only matches.
 */
export interface DryRunResult {
  readonly policy: string;
  readonly action: AuthzAction;
  readonly matched: boolean;
  readonly result: 'allow' | 'deny';
}

/** The destination workload as far as policy selection is concerned. */
export interface PolicyWorkload {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Policies that apply to WORKLOAD: those of its namespace and of the root namespace (which apply to every
 * namespace), whose selector its labels satisfy. Root-namespace policies come first, then the others in
 * the given order (a loaded config is sorted by namespace/name), which is the order a decision names them.
 */
export function policiesFor(workload: PolicyWorkload, all: readonly AuthzPolicy[], rootNamespace: string = ROOT_NAMESPACE): AuthzPolicy[] {
  const applies = (p: AuthzPolicy): boolean => selects(p.selector, workload.labels);
  const root = all.filter((p) => p.namespace === rootNamespace && applies(p));
  const own = workload.namespace === rootNamespace ? [] : all.filter((p) => p.namespace === workload.namespace && applies(p));
  return [...root, ...own];
}

export interface AuthzMatcher {
  readonly policies: readonly AuthzPolicy[];
  authorize(req: AuthzRequest): AuthzDecision;
}

/** Compiles POLICIES (already selected for one destination workload, see policiesFor) into a matcher. */
export function compileAuthz(policies: readonly AuthzPolicy[]): AuthzMatcher {
  return matcherOf(policies, policies.map(compilePolicy));
}

function matcherOf(policies: readonly AuthzPolicy[], all: readonly CompiledPolicy[]): AuthzMatcher {
  const compiled = all.filter((p) => !p.dryRun);
  const dry = all.filter((p) => p.dryRun);
  const of = (a: AuthzAction): CompiledPolicy[] => compiled.filter((p) => p.action === a);
  const deny = of('DENY');
  const allow = of('ALLOW');
  const audit = of('AUDIT');
  const decide = (req: AuthzRequest): AuthzDecision => {
    if (compiled.length === 0) return { allowed: true, reason: 'no-policies', audited: false };
    const r = viewOf(req);
    const matches = (p: CompiledPolicy): boolean => (r.tcp ? p.tcp(r) : p.http(r));
    const audited = audit.some(matches);
    const denied = deny.find(matches);
    if (denied !== undefined) return { allowed: false, reason: 'deny-policy', policy: denied.key, audited };
    if (allow.length === 0) return { allowed: true, reason: 'no-policies', audited };
    const allowed = allow.find(matches);
    if (allowed !== undefined) return { allowed: true, reason: 'allowed', policy: allowed.key, audited };
    return { allowed: false, reason: 'no-allow-match', audited };
  };
  return {
    policies,
    authorize(req: AuthzRequest): AuthzDecision {
      const decision = decide(req);
      if (dry.length === 0) return decision;
      const r = viewOf(req);
      const dryRun = dry.map((p): DryRunResult => {
        const matched = r.tcp ? p.tcp(r) : p.http(r);
        const result = p.action === 'DENY' ? (matched ? 'deny' : 'allow') : p.action === 'ALLOW' ? (matched ? 'allow' : 'deny') : 'allow';
        return { policy: p.key, action: p.action, matched, result };
      });
      return { ...decision, dryRun };
    },
  };
}

const compiledLists = new WeakMap<readonly AuthzPolicy[], AuthzMatcher>();

/**
 * One decision. POLICIES are those that apply to the destination workload (policiesFor). The compiled
 * form is cached per array, so passing the same array again (a config's, or one kept per workload)
 * does not recompile; a fresh array each call does.
 */
export function authorize(req: AuthzRequest, policies: readonly AuthzPolicy[]): AuthzDecision {
  let m = compiledLists.get(policies);
  if (m === undefined) {
    m = compileAuthz(policies);
    compiledLists.set(policies, m);
  }
  return m.authorize(req);
}

/**
 * Every policy of a config compiled once (build one per config), with a matcher per destination workload
 * built on first use and kept; workloads with the same namespace and labels share one. The cache holds
 * at most one entry per distinct label set, which a config's workloads bound.
 */
export class MeshAuthz {
  private readonly compiled: ReadonlyMap<AuthzPolicy, CompiledPolicy>;
  private readonly byWorkload = new Map<string, AuthzMatcher>();
  /** The same, by the (frozen) workload object: asked per request, so a known one skips its key. */
  private readonly byObject = new WeakMap<PolicyWorkload, AuthzMatcher>();

  constructor(
    readonly all: readonly AuthzPolicy[],
    readonly rootNamespace: string = ROOT_NAMESPACE,
  ) {
    this.compiled = new Map(all.map((p) => [p, compilePolicy(p)]));
  }

  forWorkload(workload: PolicyWorkload): AuthzMatcher {
    const known = this.byObject.get(workload);
    if (known !== undefined) return known;
    const labels = Object.keys(workload.labels).sort().map((k) => [k, workload.labels[k]]);
    const key = JSON.stringify([workload.namespace, labels]);
    let m = this.byWorkload.get(key);
    if (m === undefined) {
      const policies = policiesFor(workload, this.all, this.rootNamespace);
      m = matcherOf(policies, policies.map((p) => this.compiled.get(p) ?? compilePolicy(p)));
      this.byWorkload.set(key, m);
    }
    if (Object.isFrozen(workload) && Object.isFrozen(workload.labels)) this.byObject.set(workload, m);
    return m;
  }

  authorize(workload: PolicyWorkload, req: AuthzRequest): AuthzDecision {
    return this.forWorkload(workload).authorize(req);
  }
}

interface CompiledPolicy {
  readonly key: string;
  readonly action: AuthzAction;
  readonly dryRun: boolean;
  readonly http: Test;
  readonly tcp: Test;
}

const NEVER: Test = () => false;
const ALWAYS: Test = () => true;

function compilePolicy(p: AuthzPolicy): CompiledPolicy {
  const rules = p.rules.map(compileRule);
  const tcpMode: Mode = p.action === 'ALLOW' ? 'tcp-allow' : 'tcp-widen';
  return {
    key: `${p.namespace}/${p.name}`,
    action: p.action,
    dryRun: p.dryRun === true,
    // No rules: the policy matches nothing (an ALLOW policy without rules is "allow-nothing").
    http: anyOf(rules.map((r) => r('http'))),
    tcp: anyOf(rules.map((r) => r(tcpMode))),
  };
}

/** http: every field; tcp-allow: rules with HTTP-only fields never match; tcp-widen: those fields are dropped. */
type Mode = 'http' | 'tcp-allow' | 'tcp-widen';

/** One field of a rule, compiled; httpOnly fields (hosts, methods, paths, headers) have no value on TCP. */
interface Constraint {
  readonly test: Test;
  readonly httpOnly: boolean;
}

function compileRule(rule: AuthzRule): (mode: Mode) => Test {
  const from = (rule.from ?? []).map(sourceConstraints);
  const to = (rule.to ?? []).map(operationConstraints);
  const when = (rule.when ?? []).map(conditionConstraint);
  const usesHttp = [...from.flat(), ...to.flat(), ...when].some((c) => c.httpOnly);
  return (mode) => {
    if (mode === 'tcp-allow' && usesHttp) return NEVER;
    const keep = (cs: readonly Constraint[]): Test => allOf(cs.filter((c) => mode === 'http' || !c.httpOnly).map((c) => c.test));
    // An absent (or empty) from/to puts no constraint; otherwise one of its entries must match.
    const fromTest = from.length === 0 ? ALWAYS : anyOf(from.map(keep));
    const toTest = to.length === 0 ? ALWAYS : anyOf(to.map(keep));
    return allOf([fromTest, toTest, keep(when)]);
  };
}

function sourceConstraints(s: AuthzSource): Constraint[] {
  const principal = (v: string): Test => stringTest(v, (r) => r.principal);
  const namespace = (v: string): Test => stringTest(v, (r) => r.namespace);
  const ip = (v: string): Test => ipTest(v, (r) => r.srcIp);
  const requestPrincipal = (v: string): Test => stringTest(v, (r) => r.auth?.principal);
  const remoteIp = (v: string): Test => ipTest(v, (r) => r.remoteIp);
  return [
    field(s.principals, s.notPrincipals, principal, false),
    field(s.namespaces, s.notNamespaces, namespace, false),
    field(s.ipBlocks, s.notIpBlocks, ip, false),
    // A JWT exists on HTTP only; on TCP these fields behave like the other HTTP-only ones.
    field(s.requestPrincipals, s.notRequestPrincipals, requestPrincipal, true),
    field(s.remoteIpBlocks, s.notRemoteIpBlocks, remoteIp, false),
    field(s.serviceAccounts, s.notServiceAccounts, serviceAccountTest, false),
    field(s.trustDomains, s.notTrustDomains, trustDomainTest, false),
  ].filter(isConstraint);
}

function operationConstraints(o: AuthzOperation): Constraint[] {
  const host = (v: string): Test => stringTest(v, (r) => r.host, true);
  const method = (v: string): Test => stringTest(v, (r) => r.method);
  const path = (v: string): Test => pathTest(v, (r) => r.path);
  return [
    field(o.hosts, o.notHosts, host, true),
    field(o.ports, o.notPorts, portTest, false),
    field(o.methods, o.notMethods, method, true),
    field(o.paths, o.notPaths, path, true),
  ].filter(isConstraint);
}

function conditionConstraint(c: AuthzCondition): Constraint {
  const header = headerOfKey(c.key);
  const claim = claimOfKey(c.key);
  let test: (v: string) => Test;
  let httpOnly = header !== undefined;
  if (header !== undefined) test = (v) => headerTest(v, header);
  else if (claim !== undefined || c.key.startsWith('request.auth.')) {
    httpOnly = true;
    if (claim !== undefined) test = (v) => anyValueTest(v, (r) => claimValues(r.auth?.claims, claim));
    else if (c.key === 'request.auth.principal') test = (v) => stringTest(v, (r) => r.auth?.principal);
    else if (c.key === 'request.auth.audiences') test = (v) => anyValueTest(v, (r) => r.auth?.audiences);
    else if (c.key === 'request.auth.presenter') test = (v) => stringTest(v, (r) => r.auth?.presenter);
    else return { test: NEVER, httpOnly: true };
  } else if (c.key === 'remote.ip') test = (v) => ipTest(v, (r) => r.remoteIp);
  else if (c.key === 'source.ip') test = (v) => ipTest(v, (r) => r.srcIp);
  else if (c.key === 'destination.ip') test = (v) => ipTest(v, (r) => r.dstIp);
  else if (c.key === 'destination.port') test = portTest;
  else if (c.key === 'source.principal') test = (v) => stringTest(v, (r) => r.principal);
  else if (c.key === 'source.namespace') test = (v) => stringTest(v, (r) => r.namespace);
  else if (c.key === 'connection.sni') test = (v) => stringTest(v, (r) => r.sni);
  // The loader refuses other keys; a hand-built policy with one gets a condition that never holds.
  else return { test: NEVER, httpOnly: false };
  return field(c.values, c.notValues, test, httpOnly) ?? { test: ALWAYS, httpOnly: false };
}

/** VALUES: one must match; NOT_VALUES: none may match (a missing attribute matches no value). */
function field<V>(values: readonly V[] | undefined, notValues: readonly V[] | undefined, test: (v: V) => Test, httpOnly: boolean): Constraint | undefined {
  const yes = (values ?? []).map(test);
  const no = (notValues ?? []).map(test);
  if (yes.length === 0 && no.length === 0) return undefined;
  const any = anyOf(yes);
  const none = anyOf(no);
  const t: Test = yes.length === 0 ? (r) => !none(r) : no.length === 0 ? any : (r) => any(r) && !none(r);
  return { test: t, httpOnly };
}

function isConstraint(c: Constraint | undefined): c is Constraint {
  return c !== undefined;
}

// Plain loops rather than some/every: these run for every policy on every request.
function anyOf(tests: readonly Test[]): Test {
  if (tests.length === 0) return NEVER;
  if (tests.length === 1) return tests[0] as Test;
  return (r) => {
    for (let i = 0; i < tests.length; i++) if ((tests[i] as Test)(r)) return true;
    return false;
  };
}

function allOf(tests: readonly Test[]): Test {
  if (tests.length === 0) return ALWAYS;
  if (tests.length === 1) return tests[0] as Test;
  return (r) => {
    for (let i = 0; i < tests.length; i++) if (!(tests[i] as Test)(r)) return false;
    return true;
  };
}
