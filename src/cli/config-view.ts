// `nodemesh config workloads|services|policies|certs` tables, in the columns `istioctl ztunnel-config`
// shows for ztunnel where nodemesh has the same thing. Pure.
import type { ConfigKind } from '../telemetry/admin-proto';
import type { ConfigAnswers } from './admin-client';
import { renderTable } from './table';

const labels = (m: Readonly<Record<string, string>>): string =>
  Object.entries(m)
    .map(([k, v]) => `${k}=${v}`)
    .join(',') || '-';

const dash = (s: string): string => s || '-';

export function configTable<K extends ConfigKind>(kind: K, answer: ConfigAnswers[K]): string[] {
  switch (kind) {
    case 'workloads': {
      const a = answer as ConfigAnswers['workloads'];
      return renderTable(
        [{ title: 'NAMESPACE' }, { title: 'NAME' }, { title: 'ADDRESS' }, { title: 'NODE' }, { title: 'LOCAL' }, { title: 'PROTOCOL' }, { title: 'IDENTITY' }],
        a.workloads.map((w) => [w.namespace, w.name, w.address, dash(w.node), w.local ? 'yes' : 'no', w.protocol, w.identity]),
      );
    }
    case 'services': {
      const a = answer as ConfigAnswers['services'];
      return renderTable(
        [{ title: 'NAMESPACE' }, { title: 'NAME' }, { title: 'VIPS' }, { title: 'PORTS' }, { title: 'DATAPLANE' }, { title: 'ENDPOINTS' }, { title: 'HOSTS' }],
        a.services.map((s) => [
          s.namespace,
          s.name,
          s.addresses.join(',') || '-',
          s.ports.map((p) => `${p.number}${p.protocol ? `/${p.protocol}` : ''}${p.target_port !== p.number ? `→${p.target_port}` : ''}`).join(',') || '-',
          s.dataplane,
          endpointsCell(s.endpoints.map((e) => e.placement)),
          s.hosts.join(','),
        ]),
      );
    }
    case 'policies': {
      const a = answer as ConfigAnswers['policies'];
      return renderTable(
        [{ title: 'NAMESPACE' }, { title: 'NAME' }, { title: 'KIND' }, { title: 'ACTION' }, { title: 'SCOPE' }, { title: 'SELECTOR' }, { title: 'RULES', right: true }],
        a.policies.map((p) => [p.namespace, p.name, p.kind, `${p.action}${p.dry_run ? ' (dry-run)' : ''}`, p.scope, labels(p.selector), String(p.rules)]),
      );
    }
    case 'certs': {
      const a = answer as ConfigAnswers['certs'];
      return renderTable(
        [{ title: 'CERTIFICATE NAME' }, { title: 'TYPE' }, { title: 'STATUS' }, { title: 'VALID CERT' }, { title: 'SERIAL NUMBER' }, { title: 'NOT AFTER' }, { title: 'NOT BEFORE' }],
        a.certificates.map((c) => [c.identity, c.type, c.status, String(c.valid), dash(c.serial), dash(c.not_after), dash(c.not_before)]),
      );
    }
  }
  throw new Error(`unknown config kind ${String(kind)}`);
}

/** "3 (1 local, 2 remote)"; just the count when all are reached directly. */
export function endpointsCell(placements: readonly string[]): string {
  const n = (p: string): number => placements.filter((x) => x === p).length;
  const parts = (['local', 'remote'] as const).filter((p) => n(p) > 0).map((p) => `${n(p)} ${p}`);
  return parts.length === 0 ? String(placements.length) : `${placements.length} (${parts.join(', ')})`;
}
