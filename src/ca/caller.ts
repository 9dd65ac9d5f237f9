// Who calls the CA, decided from a TokenReview answer (pure). In a cluster a node agent proves itself
// with its projected ServiceAccount token; the API server vouches for the token (TokenReview) and says
// whose it is. The CA then needs two facts: the caller is the agents' ServiceAccount (any other pod's
// token must not mint identities), and which node it runs on. Kubernetes ≥ 1.30 puts the node in the
// token's extra info; older servers name the bound pod, whose node the pod informer knows.
import { checkNamespace, checkObjectName } from '../config/formats';

export const SA_USERNAME_PREFIX = 'system:serviceaccount:';
export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';
export const DEFAULT_AGENT_ACCOUNT = 'nodemesh-system/nodemesh-agent';
export const DEFAULT_TOKEN_AUDIENCE = 'nodemesh-ca';

export interface AccountRef {
  readonly namespace: string;
  readonly name: string;
}

/** Refusals as gRPC status names; UNAVAILABLE means "retry later", the others are final for that token. */
export type CallerRefusalCode = 'UNAUTHENTICATED' | 'PERMISSION_DENIED' | 'UNAVAILABLE';

export type CallerResult =
  | { readonly ok: true; readonly node: string; readonly via: 'node-token' | 'node-name' | 'bound-pod'; readonly account?: AccountRef }
  | { readonly ok: false; readonly code: CallerRefusalCode; readonly reason: string };

/** Turns a bearer token that is not a node token into the caller's node (or a refusal). */
export interface CallerAuthenticator {
  authenticate(token: string): Promise<CallerResult>;
}

/** What the caller decision needs from the pod informer. */
export interface PodLookup {
  /** The first full pod list arrived; before that, "not found" means "not known yet". */
  readonly synced: boolean;
  pod(namespace: string, name: string): { readonly node: string; readonly uid: string; readonly terminated: boolean } | undefined;
}

/** `system:serviceaccount:NS:NAME` → {NS, NAME}; undefined for users, nodes, groups or anything malformed. */
export function parseServiceAccountUsername(username: unknown): AccountRef | undefined {
  if (typeof username !== 'string' || !username.startsWith(SA_USERNAME_PREFIX)) return undefined;
  const parts = username.slice(SA_USERNAME_PREFIX.length).split(':');
  if (parts.length !== 2) return undefined;
  const [namespace, name] = parts as [string, string];
  if (checkNamespace(namespace) !== undefined || checkObjectName(name) !== undefined) return undefined;
  return { namespace, name };
}

/** `NS/NAME` (a flag value: a ServiceAccount, a Secret) → {namespace, name}; throws a usage error naming the flag. */
export function parseNamespacedFlag(flag: string, v: string): AccountRef {
  const parts = v.split('/');
  const [namespace = '', name = ''] = parts;
  const problem = parts.length !== 2 ? 'expected NAMESPACE/NAME' : (checkNamespace(namespace) ?? checkObjectName(name));
  if (problem !== undefined) throw new Error(`--${flag} must be NAMESPACE/NAME, got ${JSON.stringify(v)}: ${problem}`);
  return { namespace, name };
}

export function formatAccount(a: AccountRef): string {
  return `${a.namespace}/${a.name}`;
}

export interface ResolveInput {
  /** The audience the review asked for; the answer must confirm it. */
  readonly audience: string;
  /** The one ServiceAccount whose tokens may ask for certificates. */
  readonly agent: AccountRef;
  readonly pods: PodLookup;
}

type Refusal = Extract<CallerResult, { ok: false }>;
const refuse = (code: CallerRefusalCode, reason: string): Refusal => ({ ok: false, code, reason });

/**
 * The TokenReview `status` (as the API answered it, so untrusted in shape) → the caller's node. Order:
 * authenticated → audience → the agents' ServiceAccount → node-name extra, else bound pod → its node.
 */
export function resolveCaller(status: unknown, input: ResolveInput): CallerResult {
  if (status === null || typeof status !== 'object') return refuse('UNAVAILABLE', 'the TokenReview answer carries no status');
  const s = status as { authenticated?: unknown; error?: unknown; audiences?: unknown; user?: unknown };
  if (s.authenticated !== true) {
    const why = typeof s.error === 'string' && s.error !== '' ? `: ${s.error.slice(0, 300)}` : '';
    return refuse('UNAUTHENTICATED', `the token was not accepted by TokenReview${why}`);
  }
  // The API server returns the audiences it checked; an authenticator that ignored ours must not let a
  // token meant for someone else (e.g. the pod's API token) through.
  if (!Array.isArray(s.audiences) || !s.audiences.includes(input.audience)) {
    return refuse('UNAUTHENTICATED', `the token is not for audience ${input.audience}`);
  }
  const user = (s.user !== null && typeof s.user === 'object' ? s.user : {}) as { username?: unknown; extra?: unknown };
  const account = parseServiceAccountUsername(user.username);
  const shown = typeof user.username === 'string' ? user.username.slice(0, 300) : '(no username)';
  if (account === undefined) return refuse('PERMISSION_DENIED', `${shown} is not a ServiceAccount`);
  if (account.namespace !== input.agent.namespace || account.name !== input.agent.name) {
    return refuse('PERMISSION_DENIED', `ServiceAccount ${formatAccount(account)} is not the node agents' (${formatAccount(input.agent)})`);
  }
  const extra = (user.extra !== null && typeof user.extra === 'object' ? user.extra : {}) as Record<string, unknown>;
  const node = single(extra[NODE_NAME_EXTRA]);
  if (node.ambiguous) return refuse('PERMISSION_DENIED', `the token names ${node.count} nodes`);
  if (node.value !== undefined) {
    if (checkObjectName(node.value) !== undefined) return refuse('PERMISSION_DENIED', `the token's node name ${JSON.stringify(node.value.slice(0, 300))} is invalid`);
    return { ok: true, node: node.value, via: 'node-name', account };
  }
  const podName = single(extra[POD_NAME_EXTRA]);
  if (podName.ambiguous) return refuse('PERMISSION_DENIED', `the token names ${podName.count} pods`);
  if (podName.value === undefined) return refuse('PERMISSION_DENIED', 'the token is bound to no pod and no node (not a projected ServiceAccount token?)');
  const podKey = `${account.namespace}/${podName.value}`;
  const pod = input.pods.pod(account.namespace, podName.value);
  // A bound token is valid only while its pod exists, so a pod we do not know is one the informer has
  // not shown us yet: retry, not refuse.
  if (pod === undefined) return refuse('UNAVAILABLE', input.pods.synced ? `the token's pod ${podKey} is not known yet` : `the pod list is not synced yet (token of pod ${podKey})`);
  const uid = single(extra[POD_UID_EXTRA]).value;
  if (uid !== undefined && pod.uid !== '' && uid !== pod.uid) return refuse('PERMISSION_DENIED', `the token belongs to an earlier pod named ${podKey} (uid ${uid}, now ${pod.uid})`);
  if (pod.terminated) return refuse('PERMISSION_DENIED', `the token's pod ${podKey} has terminated`);
  if (pod.node === '') return refuse('PERMISSION_DENIED', `the token's pod ${podKey} is not scheduled on a node`);
  return { ok: true, node: pod.node, via: 'bound-pod', account };
}

/** An extra value (a list of strings): its one distinct non-empty value, or none, or "ambiguous". */
function single(v: unknown): { value?: string; ambiguous?: boolean; count?: number } {
  const list = Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  const values = [...new Set(list.filter((x): x is string => typeof x === 'string' && x !== ''))];
  if (values.length > 1) return { ambiguous: true, count: values.length };
  return values.length === 1 ? { value: values[0] as string } : {};
}
