// nodemesh.io/v1alpha1 Node: where one node's agent listens (tunnel :15008) and where its pods reach it.
// Cluster-scoped like a Kubernetes Node, and named the same (the kubernetes.io/hostname label).
import { Fields, describe, isRecord, joinKey } from '../fields';
import { isIPv4 } from '../formats';
import { readMetadata } from './metadata';
import type { At, Origin, ParsedNode } from './types';

const SPEC_FIELDS = ['addresses'];

export function readNode(doc: Fields, origin: Origin): ParsedNode | undefined {
  // Issues are labelled with the bare name from the start, not the "default/<name>" a namespaced kind gets.
  const rawMeta = doc.raw('metadata');
  const rawName = isRecord(rawMeta) ? rawMeta.name : undefined;
  if (typeof rawName === 'string') doc.sink.name = rawName;
  if (isRecord(rawMeta) && rawMeta.namespace !== undefined && rawMeta.namespace !== null) {
    doc.sink.report(joinKey(doc.at('metadata'), 'namespace'), 'Node is cluster-scoped; remove metadata.namespace');
  }
  const meta = readMetadata(doc, []);
  const spec = doc.object('spec', SPEC_FIELDS, { required: true });
  const addresses: At<string>[] = [];
  for (const item of spec?.list('addresses', { required: true }) ?? []) {
    if (typeof item.value !== 'string' || !isIPv4(item.value)) {
      spec?.sink.report(item.path, `must be an IPv4 address, got ${describe(item.value)}`);
    } else if (addresses.some((a) => a.value === item.value)) {
      spec?.sink.report(item.path, `duplicate address ${item.value}`);
    } else {
      addresses.push({ value: item.value, path: item.path });
    }
  }
  if (meta === undefined || addresses.length === 0) return undefined;
  return {
    kind: 'Node',
    origin: { ...origin, name: meta.name },
    node: { name: meta.name, addresses: addresses.map((a) => a.value), ...(Object.keys(meta.labels).length > 0 ? { labels: meta.labels } : {}) },
    addresses,
  };
}
