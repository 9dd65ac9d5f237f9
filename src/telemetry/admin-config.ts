// The admin API's Config answers: the agent's view of workloads, services, policies and certificates,
// in the spirit of `istioctl ztunnel-config` for ztunnel. Pure: the config, this node and the held
// certificates come in; rows sorted by namespace, then name.
import { ROOT_NAMESPACE, type MeshConfig } from '../config/model';
import { certInfo, splitPem } from '../identity/pem';
import type { CertMaterial } from '../identity/manager';
import { Topology } from '../state/topology';
import type { CertificateView, PolicyView, ServiceView, WorkloadView } from './admin-proto';

const byName = <T extends { namespace: string; name: string }>(a: T, b: T): number => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);

export function workloadViews(cfg: MeshConfig, node: string, trustDomain: string): WorkloadView[] {
  const topo = new Topology(cfg, node, trustDomain);
  return cfg.workloads
    .map((w): WorkloadView => {
      const placement = topo.placement({ node: w.node } as Parameters<Topology['placement']>[0]);
      return {
        namespace: w.namespace,
        name: w.name,
        address: w.address,
        node: w.node ?? '',
        service_account: w.serviceAccount ?? 'default',
        identity: topo.identityOf(w),
        // Every workload on a known node is reached through a tunnel, this node's own included.
        protocol: placement.kind === 'direct' ? 'TCP' : 'HBONE',
        local: w.node !== undefined && w.node === node,
        labels: { ...w.labels },
      };
    })
    .sort(byName);
}

export function serviceViews(cfg: MeshConfig, node: string, trustDomain: string): ServiceView[] {
  const topo = new Topology(cfg, node, trustDomain);
  return cfg.services
    .map((s): ServiceView => ({
      namespace: s.namespace,
      name: s.name,
      hosts: [...s.hosts],
      addresses: [...s.addresses],
      ports: s.ports.map((p) => ({ number: p.number, name: p.name, protocol: p.protocol ?? '', target_port: p.targetPort })),
      dataplane: s.dataplane,
      resolution: s.resolution ?? 'STATIC',
      location: s.location ?? 'MESH_INTERNAL',
      endpoints: s.endpoints.map((e) => ({
        address: e.address,
        workload: e.workload ?? '',
        node: e.node ?? '',
        placement: s.location === 'MESH_EXTERNAL' ? 'direct' : topo.placement(e).kind,
        weight: e.weight,
        locality: e.locality ?? '',
      })),
    }))
    .sort(byName);
}

function scopeOf(namespace: string, selector: Readonly<Record<string, string>> | undefined): string {
  if (selector !== undefined && Object.keys(selector).length > 0) return 'WorkloadSelector';
  return namespace === ROOT_NAMESPACE ? 'Global' : 'Namespace';
}

export function policyViews(cfg: MeshConfig): PolicyView[] {
  const out: PolicyView[] = [];
  for (const p of cfg.authorizationPolicies) {
    out.push({ namespace: p.namespace, name: p.name, kind: 'AuthorizationPolicy', action: p.action, scope: scopeOf(p.namespace, p.selector), selector: { ...p.selector }, rules: p.rules.length, dry_run: p.dryRun === true });
  }
  for (const p of cfg.peerAuthentications) {
    out.push({ namespace: p.namespace, name: p.name, kind: 'PeerAuthentication', action: p.mode, scope: scopeOf(p.namespace, p.selector), selector: { ...p.selector }, rules: Object.keys(p.portLevel).length, dry_run: false });
  }
  for (const p of cfg.requestAuthentications ?? []) {
    const scope = p.targetServices?.length ? 'TargetRef' : scopeOf(p.namespace, p.selector);
    out.push({ namespace: p.namespace, name: p.name, kind: 'RequestAuthentication', action: 'JWT', scope, selector: { ...p.selector }, rules: p.jwtRules.length, dry_run: false });
  }
  return out.sort((a, b) => byName(a, b) || a.kind.localeCompare(b.kind));
}

export interface HeldCertificates {
  readonly root: string | undefined;
  readonly held: readonly { readonly identity: string; readonly material: CertMaterial | undefined }[];
}

function status(notBefore: Date, notAfter: Date, now: number): { status: string; valid: boolean } {
  const valid = notBefore.getTime() <= now && now <= notAfter.getTime();
  return { status: now > notAfter.getTime() ? 'Expired' : 'Available', valid };
}

/** Leaf, intermediates and the root (named ROOTCA, as istioctl shows it) of every identity held. */
export function certificateViews(certs: HeldCertificates, now: number): CertificateView[] {
  const out: CertificateView[] = [];
  const held = [...certs.held].sort((a, b) => a.identity.localeCompare(b.identity));
  for (const { identity, material: m } of held) {
    if (m === undefined) {
      out.push({ identity, type: 'Leaf', status: 'Pending', valid: false, serial: '', not_before: '', not_after: '' });
      continue;
    }
    out.push({ identity, type: 'Leaf', ...status(m.notBefore, m.notAfter, now), serial: m.serial, not_before: m.notBefore.toISOString(), not_after: m.notAfter.toISOString() });
    for (const pem of m.certChainPem.slice(1)) out.push(caView(identity, 'Intermediate', pem, now));
  }
  const root = certs.root ?? held.find((h) => h.material !== undefined)?.material?.rootPem;
  const rootPem = root === undefined ? undefined : splitPem(root)[0];
  if (rootPem !== undefined) out.push(caView('ROOTCA', 'CA', rootPem, now));
  return out;
}

function caView(identity: string, type: string, pem: string, now: number): CertificateView {
  try {
    const c = certInfo(pem);
    return { identity, type, ...status(c.notBefore, c.notAfter, now), serial: c.serial, not_before: c.notBefore.toISOString(), not_after: c.notAfter.toISOString() };
  } catch {
    return { identity, type, status: 'Unreadable', valid: false, serial: '', not_before: '', not_after: '' };
  }
}
