// AuthorizationPolicy: which requests a workload accepts, with Istio's ALLOW / DENY / AUDIT semantics
// (evaluated by policy/authz.ts). Istio fields nodemesh cannot enforce yet are refused by name: a policy
// that silently enforced less than it says would be worse than a config that does not load.
//
// Empty versus absent, as in Istio (empty and absent lists are the same thing in its protobuf API):
// - no `rules` (absent or []): the policy matches nothing. An ALLOW policy still counts as present, so
//   `spec: {}` is Istio's "allow-nothing" (deny every request its selector covers). A DENY policy
//   without rules could never fire and Istio's validation rejects it, so it is an error here too.
// - `rules: [{}]`: one empty rule, which matches every request ("allow-all" / "deny-all").
// - `from: []` / `to: []`, a source or operation with no fields, a `when` without values: errors, as
//   in Istio (each reads as a constraint but constrains nothing). Leave the field out instead.
import { Fields, type Item } from '../fields';
import type { IssueSink } from '../issues';
import type { AuthzAction, AuthzCondition, AuthzOperation, AuthzPolicy, AuthzRule, AuthzSource } from '../model';
import { readMetadata } from './metadata';
import {
  checkIpBlock,
  checkMethod,
  checkNamespacePattern,
  checkPath,
  checkPortString,
  checkPrincipal,
  checkServiceAccount,
  checkStringMatch,
  checkTrustDomain,
  checkWhenKey,
  checkWhenValue,
  readPolicySelector,
} from './security';
import type { Origin, ParsedAuthz } from './types';

const SPEC_FIELDS = ['selector', 'action', 'rules'];
const UNSUPPORTED_SPEC_FIELDS = ['targetRef', 'targetRefs', 'provider'];
const ACTIONS = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const;
const RULE_FIELDS = ['from', 'to', 'when'];
const CONDITION_FIELDS = ['key', 'values', 'notValues'];

type Check = (s: string) => string | undefined;

const SOURCE_CHECKS: Readonly<Record<keyof AuthzSource, Check>> = {
  principals: checkPrincipal,
  notPrincipals: checkPrincipal,
  namespaces: checkNamespacePattern,
  notNamespaces: checkNamespacePattern,
  ipBlocks: checkIpBlock,
  notIpBlocks: checkIpBlock,
  // `<iss>/<sub>` of a JWT verified by a RequestAuthentication (policy/jwt.ts).
  requestPrincipals: checkStringMatch,
  notRequestPrincipals: checkStringMatch,
  // The client address from X-Forwarded-For, --trusted-proxies hops from the right.
  remoteIpBlocks: checkIpBlock,
  notRemoteIpBlocks: checkIpBlock,
  // Peer identity parts; serviceAccounts excludes principals and namespaces in the same source (Istio).
  serviceAccounts: checkServiceAccount,
  notServiceAccounts: checkServiceAccount,
  trustDomains: checkTrustDomain,
  notTrustDomains: checkTrustDomain,
};
const UNSUPPORTED_SOURCE_FIELDS: readonly string[] = [];
const EXCLUSIVE_WITH_SERVICE_ACCOUNTS = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'];
/** The annotation that makes a policy dry-run (evaluated and reported, never enforced). */
export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

const OPERATION_CHECKS: Readonly<Record<keyof AuthzOperation, Check>> = {
  hosts: checkStringMatch,
  notHosts: checkStringMatch,
  ports: checkPortString,
  notPorts: checkPortString,
  methods: checkMethod,
  notMethods: checkMethod,
  paths: checkPath,
  notPaths: checkPath,
};

export function readAuthorizationPolicy(doc: Fields, origin: Origin): ParsedAuthz | undefined {
  // Readers below report and skip bad values; a policy with any problem is not built at all (the whole
  // config is refused anyway), so a partly read rule can never become a wider or narrower one.
  const before = doc.sink.issues.length;
  const meta = readMetadata(doc, []);
  // No spec at all reads as `spec: {}`: an ALLOW policy without rules (allow-nothing).
  const spec = doc.object('spec', SPEC_FIELDS, { unsupported: UNSUPPORTED_SPEC_FIELDS });
  const selector = spec && readPolicySelector(spec);
  const action = spec ? readAction(spec) : 'ALLOW';
  const ruleItems = spec?.list('rules');
  // (A `rules` that is not a list was reported already.)
  if (action === 'DENY' && (ruleItems?.length ?? 0) === 0 && (ruleItems !== undefined || !spec?.has('rules'))) {
    spec?.report('rules', 'a DENY policy without rules never matches (add an empty rule {} to deny every request)');
  }
  const rules = (ruleItems ?? []).map((item) => qualifyServiceAccounts(readRule(doc.sink, item), meta?.namespace ?? ''));
  if (meta === undefined || action === undefined || doc.sink.issues.length > before) return undefined;
  const dry = meta.annotations[DRY_RUN_ANNOTATION];
  if (dry !== undefined && dry !== 'true' && dry !== 'false') {
    doc.sink.report(`metadata.annotations.${DRY_RUN_ANNOTATION}`, `must be "true" or "false", got "${dry}"`);
    return undefined;
  }
  if (dry === 'true' && action === 'AUDIT') {
    doc.sink.report(`metadata.annotations.${DRY_RUN_ANNOTATION}`, 'cannot be used with action AUDIT (AUDIT already only logs; remove the annotation)');
    return undefined;
  }
  const policy: AuthzPolicy = { name: meta.name, namespace: meta.namespace, selector, action, rules, ...(dry === 'true' ? { dryRun: true } : {}) };
  return { kind: 'AuthorizationPolicy', origin, policy };
}

function readAction(spec: Fields): AuthzAction | undefined {
  if (!spec.has('action')) return 'ALLOW';
  const action = spec.choice('action', ACTIONS);
  if (action === 'CUSTOM') {
    spec.report('action', 'action CUSTOM (external authorization) is not supported yet by this nodemesh version: write ALLOW or DENY rules');
    return undefined;
  }
  return action;
}

function readRule(sink: IssueSink, item: Item): AuthzRule {
  const r = Fields.open(sink, item.path, item.value, RULE_FIELDS);
  if (r === undefined) return {};
  const from = readClauses(r, 'from', 'source', SOURCE_CHECKS, UNSUPPORTED_SOURCE_FIELDS) as AuthzSource[] | undefined;
  const to = readClauses(r, 'to', 'operation', OPERATION_CHECKS, []) as AuthzOperation[] | undefined;
  const when = r.list('when')?.map((w) => readCondition(sink, w));
  return {
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
    ...(when !== undefined && when.length > 0 ? { when } : {}),
  };
}

type Clause = Record<string, readonly (string | number)[]>;

/** `from: [{source: {...}}]` or `to: [{operation: {...}}]`; undefined when absent (no constraint). */
function readClauses(r: Fields, key: 'from' | 'to', inner: string, checks: Readonly<Record<string, Check>>, unsupported: readonly string[]): Clause[] | undefined {
  const items = r.list(key);
  if (items === undefined) return undefined;
  if (items.length === 0) r.report(key, `must not be empty (leave ${key} out to match any ${inner})`);
  return items.map((item) => {
    const clause = Fields.open(r.sink, item.path, item.value, [inner]);
    const body = clause?.object(inner, Object.keys(checks), { required: true, unsupported });
    if (body !== undefined && inner === 'source' && (given(body.raw('serviceAccounts')) || given(body.raw('notServiceAccounts')))) {
      const clash = EXCLUSIVE_WITH_SERVICE_ACCOUNTS.filter((k) => given(body.raw(k)));
      if (clash.length > 0) body.report(clash[0] ?? '', 'cannot be set together with serviceAccounts or notServiceAccounts in one source (use separate sources)');
    }
    return body ? readClause(body, checks, unsupported, inner) : {};
  });
}

/**
 * The string lists of a source or operation, each value checked. Empty lists count as absent (as in
 * Istio); a clause with no field at all is an error. Ports become numbers.
 */
function readClause(f: Fields, checks: Readonly<Record<string, Check>>, unsupported: readonly string[], what: string): Clause {
  const out: Clause = {};
  for (const [key, check] of Object.entries(checks)) {
    const list = f.stringList(key, { check });
    if (list === undefined || list.length === 0) continue;
    out[key] = key === 'ports' || key === 'notPorts' ? list.map(Number) : list;
  }
  f.oneOf([...Object.keys(checks), ...unsupported], `must set at least one field (leave the ${what} out to match any ${what})`, (k) => given(f.raw(k)));
  return out;
}

function readCondition(sink: IssueSink, item: Item): AuthzCondition {
  const c = Fields.open(sink, item.path, item.value, CONDITION_FIELDS);
  if (c === undefined) return { key: '' };
  const key = c.string('key', { required: true, check: checkWhenKey });
  // Values are only checked against a valid key (string() returns undefined for a bad one): a bad key is
  // one problem, not one per value.
  const check = (v: string): string | undefined => (key !== undefined ? checkWhenValue(key, v) : undefined);
  const values = c.stringList('values', { check });
  const notValues = c.stringList('notValues', { check });
  c.oneOf(['values', 'notValues'], 'must set values or notValues', (k) => given(c.raw(k)));
  return {
    key: key ?? '',
    ...(values !== undefined && values.length > 0 ? { values } : {}),
    ...(notValues !== undefined && notValues.length > 0 ? { notValues } : {}),
  };
}

/** `sa` in serviceAccounts means `<policy namespace>/sa`. */
function qualifyServiceAccounts(rule: AuthzRule, namespace: string): AuthzRule {
  if (rule.from === undefined) return rule;
  const q = (list: readonly string[] | undefined): readonly string[] | undefined => list?.map((s) => (s.includes('/') ? s : `${namespace}/${s}`));
  const from = rule.from.map((s) => {
    const serviceAccounts = q(s.serviceAccounts);
    const notServiceAccounts = q(s.notServiceAccounts);
    return { ...s, ...(serviceAccounts ? { serviceAccounts } : {}), ...(notServiceAccounts ? { notServiceAccounts } : {}) };
  });
  return { ...rule, from };
}

/** Present and not an empty list. */
function given(v: unknown): boolean {
  return v !== undefined && !(Array.isArray(v) && v.length === 0);
}
