// WorkloadEntry: one workload (address, labels, identity, node). Its spec is also the shape of a
// ServiceEntry's inline endpoints, so the spec reader is shared.
import { Fields, PORT_RANGE, type IntRange } from '../fields';
import { checkIPv4, checkObjectName } from '../formats';
import { HOSTNAME_LABEL, readMetadata } from './metadata';
import type { Origin, ParsedWorkload } from './types';

export const WORKLOAD_SPEC_FIELDS = ['address', 'ports', 'labels', 'serviceAccount', 'network', 'locality', 'weight'];

/** Istio's weight is a uint32; 0 is not a useful weight, so the range starts at 1 (default 1). */
export const WEIGHT_RANGE: IntRange = { min: 1, max: 2 ** 32 - 1 };

export interface WorkloadSpec {
  readonly address: string | undefined;
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string | undefined;
  readonly weight: number;
}

export function readWorkloadSpec(f: Fields): WorkloadSpec {
  const address = f.string('address', { required: true, check: checkIPv4 });
  const ports = f.intMap('ports', PORT_RANGE) ?? {};
  const labels = f.stringMap('labels') ?? {};
  const serviceAccount = f.string('serviceAccount', { check: checkObjectName });
  // Accepted for compatibility; nodemesh has one flat network and no locality-aware balancing yet.
  f.string('network');
  f.string('locality');
  const weight = f.int('weight', WEIGHT_RANGE) ?? 1;
  return { address, ports, labels, serviceAccount, weight };
}

export function nodeOf(labels: Readonly<Record<string, string>>): string | undefined {
  return labels[HOSTNAME_LABEL];
}

export function readWorkloadEntry(doc: Fields, origin: Origin): ParsedWorkload | undefined {
  const meta = readMetadata(doc, []);
  const specFields = doc.object('spec', WORKLOAD_SPEC_FIELDS, { required: true });
  const spec = specFields && readWorkloadSpec(specFields);
  if (meta === undefined || spec === undefined || spec.address === undefined) return undefined;
  // Selection matches either set of labels (Istio selects on spec.labels; kubectl users label metadata).
  const labels = { ...meta.labels, ...spec.labels };
  return {
    kind: 'WorkloadEntry',
    origin,
    workload: {
      name: meta.name,
      namespace: meta.namespace,
      address: spec.address,
      labels,
      serviceAccount: spec.serviceAccount,
      node: nodeOf(labels),
    },
    ports: spec.ports,
    weight: spec.weight,
  };
}
