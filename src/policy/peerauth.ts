// PeerAuthentication resolution: which connections a workload's port accepts (mTLS only, both, or
// plaintext only), with Istio's precedence (pilot's ComposePeerAuthentication):
// - scopes: mesh (root namespace, no selector) < namespace (no selector) < workload (selector);
// - a scope whose mode is UNSET (or absent) inherits the enclosing scope's; PERMISSIVE when none sets one;
// - portLevelMtls of the chosen workload policy overrides its mode for that port; UNSET inherits it;
// - selector policies in the root namespace are ignored, as in Istio (the loader warns about them);
// - several policies of one scope: Istio takes the oldest. A config has no creation times, so the first
//   by name stands in (the loader refuses two mesh-wide or two namespace-wide ones anyway).
import { ROOT_NAMESPACE, type MtlsMode, type PeerAuthn } from '../config/model';
import { selects } from '../config/kinds/security';
import type { PolicyWorkload } from './authz';

export type EffectiveMtls = Exclude<MtlsMode, 'UNSET'>;

export interface MtlsResolution {
  readonly mode: EffectiveMtls;
  /** The scope whose setting decided: default means no policy set a mode. */
  readonly scope: 'default' | 'mesh' | 'namespace' | 'workload' | 'port';
  /** "namespace/name" of the deciding policy, unless scope is default. */
  readonly policy?: string;
}

/** The mTLS mode for inbound connections to WORKLOAD on PORT (the workload's own port, as Istio keys it). */
export function mtlsMode(workload: PolicyWorkload, port: number, policies: readonly PeerAuthn[], rootNamespace: string = ROOT_NAMESPACE): EffectiveMtls {
  return resolveMtls(workload, port, policies, rootNamespace).mode;
}

/** mtlsMode with the scope and policy that decided it, for logs and `nodemesh check` style output. */
export function resolveMtls(workload: PolicyWorkload, port: number, policies: readonly PeerAuthn[], rootNamespace: string = ROOT_NAMESPACE): MtlsResolution {
  let mesh: PeerAuthn | undefined;
  let namespace: PeerAuthn | undefined;
  let selected: PeerAuthn | undefined;
  for (const p of policies) {
    if (!hasSelector(p)) {
      if (p.namespace === rootNamespace) mesh = first(mesh, p);
      else if (p.namespace === workload.namespace) namespace = first(namespace, p);
    } else if (p.namespace === workload.namespace && p.namespace !== rootNamespace && selects(p.selector, workload.labels)) {
      selected = first(selected, p);
    }
  }
  let result: MtlsResolution = { mode: 'PERMISSIVE', scope: 'default' };
  const scopes = [
    ['mesh', mesh],
    ['namespace', namespace],
    ['workload', selected],
  ] as const;
  for (const [scope, p] of scopes) {
    if (p !== undefined && p.mode !== 'UNSET') result = { mode: p.mode, scope, policy: keyOf(p) };
  }
  const portMode = selected?.portLevel[String(port)];
  if (selected !== undefined && portMode !== undefined && portMode !== 'UNSET') {
    result = { mode: portMode, scope: 'port', policy: keyOf(selected) };
  }
  return result;
}

function hasSelector(p: PeerAuthn): boolean {
  return p.selector !== undefined && Object.keys(p.selector).length > 0;
}

/** Stand-in for "oldest": policies of one scope share a namespace, so this is name order. */
function first(current: PeerAuthn | undefined, candidate: PeerAuthn): PeerAuthn {
  return current === undefined || keyOf(candidate) < keyOf(current) ? candidate : current;
}

function keyOf(p: PeerAuthn): string {
  return `${p.namespace}/${p.name}`;
}
