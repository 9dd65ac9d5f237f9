// WorkloadEntry: one workload (address, labels, identity, node). Its spec is also the shape of a
// ServiceEntry's inline endpoints, so the spec reader is shared.
import { Fields, PORT_RANGE, joinKey, type IntRange } from '../fields';
import { checkHost, checkIPv4, checkObjectName, isIPv4, unroutable } from '../formats';
import { reservedUse } from '../reserved';
import { checkLocality } from './locality';
import { HOSTNAME_LABEL, readMetadata } from './metadata';
import type { Origin, ParsedWorkload, ReadOptions } from './types';

export const WORKLOAD_SPEC_FIELDS = ['address', 'ports', 'labels', 'serviceAccount', 'network', 'locality', 'weight'];

/** Istio's weight is a uint32; 0 is not a useful weight, so the range starts at 1 (default 1). */
export const WEIGHT_RANGE: IntRange = { min: 1, max: 2 ** 32 - 1 };

export interface WorkloadSpec {
  readonly address: string | undefined;
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string | undefined;
  readonly weight: number;
  /** "region/zone/subzone", when given. */
  readonly locality: string | undefined;
}

/**
 * What an endpoint address may be: an IPv4 address; a host name too ('hostnames': a ServiceEntry endpoint
 * under DNS resolution); 'hint': an IPv4 address, and a host name is told to use resolution DNS.
 */
export type EndpointNames = 'addresses' | 'hostnames' | 'hint';

export function readWorkloadSpec(f: Fields, opts: { names?: EndpointNames } = {}): WorkloadSpec {
  const check = opts.names === 'hostnames'
    ? (s: string) => (isIPv4(s) ? checkEndpointAddress(s) : checkDnsName(s))
    : opts.names === 'hint' ? checkStaticEndpoint : checkEndpointAddress;
  const address = f.string('address', { required: true, check });
  const ports = f.intMap('ports', PORT_RANGE) ?? {};
  for (const name of Object.keys(ports)) {
    // Port names as in ServiceEntry ports (Istio refuses names such as "@").
    if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name)) f.sink.report(joinKey(f.at('ports'), name), `"${name}" is not a valid port name (like http or grpc-api)`);
  }
  const labels = f.labelMap('labels') ?? {};
  const serviceAccount = f.string('serviceAccount', { check: checkObjectName });
  // Accepted for compatibility; nodemesh has one flat network.
  f.string('network');
  // Where the workload runs, for locality load balancing (DestinationRule localityLbSetting).
  const locality = f.string('locality', { check: (s) => (s === '' ? undefined : checkLocality(s)) }) || undefined;
  const weight = f.int('weight', WEIGHT_RANGE) ?? 1;
  return { address, ports, labels, serviceAccount, weight, locality };
}

/** A host name an endpoint may be given as (DNS resolution): a DNS name without wildcard. */
function checkDnsName(s: string): string | undefined {
  if (s.startsWith('*')) return `"${s}" is a wildcard: an endpoint must be an IPv4 address or one host name`;
  const bad = checkHost(s);
  return bad === undefined ? undefined : `${bad.replace(', optionally starting with "*."', '')}; an endpoint is an IPv4 address or a host name`;
}

/** A STATIC endpoint: an address, and a host name is told what resolution takes it. */
function checkStaticEndpoint(s: string): string | undefined {
  const bad = checkEndpointAddress(s);
  if (bad === undefined || /^[0-9.]+$/.test(s) || checkDnsName(s) !== undefined) return bad;
  return `${bad} (a host name needs resolution: DNS)`;
}

/** An endpoint is a unicast IPv4 address a connection can be made to. */
export function checkEndpointAddress(s: string): string | undefined {
  const bad = checkIPv4(s);
  if (bad !== undefined) return s.includes(':') && !s.startsWith('unix:') ? `${bad}: IPv6 is not supported (this version is IPv4 only)` : bad;
  const why = unroutable(s);
  return why === undefined ? undefined : `an endpoint cannot be ${why}`;
}

export function nodeOf(labels: Readonly<Record<string, string>>): string | undefined {
  return labels[HOSTNAME_LABEL];
}

export function readWorkloadEntry(doc: Fields, origin: Origin, opts: ReadOptions): ParsedWorkload | undefined {
  const meta = readMetadata(doc, []);
  const specFields = doc.object('spec', WORKLOAD_SPEC_FIELDS, { required: true });
  const spec = specFields && readWorkloadSpec(specFields);
  if (meta === undefined || spec === undefined || spec.address === undefined) return undefined;
  for (const [name, port] of Object.entries(spec.ports)) {
    const use = reservedUse(opts.reserved, spec.address, port);
    if (use !== undefined) specFields?.sink.report(joinKey(specFields.at('ports'), name), `${use}: a service selecting this workload would loop back into the agent`);
  }
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
    ...(spec.locality !== undefined ? { locality: spec.locality } : {}),
  };
}
