// Which reporters record a request and with which security labels, decided by how the agent delivers it
// (ztunnel reports both sides; so does the agent). Pure: the table tests pin every combination.
//
//   delivery  what the agent does with the picked endpoint            reporters                          policy (source / destination)
//   tunnel    mTLS HBONE to the endpoint's agent (this one included)  source here, destination there     mutual_tls / mutual_tls
//   local     plaintext to a pod on this node, no tunnel              source and destination here        unknown / none
//   direct    plaintext to anything else (outside the mesh)           source                             unknown / -
//   refused   nothing: a mesh endpoint asked for by a client that     source                             unknown / -
//             is not a mesh workload (no identity, no tunnel: 503 UF)
//
// Principals are filled where the agent knows both workloads: over the tunnel (the identities the mTLS
// session is made with) and for local delivery (both pods' service accounts are in the agent's view).
import type { Target } from '../balance/target';
import type { Endpoint, Service, Workload } from '../config/model';
import { baseLabels, destinationInfo, UNKNOWN, type Reporter, type SourceInfo } from './labels';

export type DeliveryKind = 'tunnel' | 'local' | 'direct' | 'refused';

/** How a picked endpoint is reached, and its workload's principal ('' when unknown) and workload. */
export interface Delivery {
  readonly kind: DeliveryKind;
  readonly principal: string;
  /** The workload at the endpoint's address in the agent's view (names an endpoint that has no name). */
  readonly workload?: Workload;
}

/** The agent's view of delivery under the current config (the mesh plane's; rebuilt per config). */
export interface DeliveryView {
  deliveryOf(target: Target): Delivery;
}

export const DIRECT: Delivery = Object.freeze({ kind: 'direct', principal: '' });

/**
 * DELIVERY as it goes for SOURCE. A mesh endpoint is reached only through the tunnel, opened with the
 * client's workload identity: for a client without one (not a mesh workload) the mesh plane refuses the
 * connection (meshplane.ts upstreamFor), so nothing crossed mTLS and no destination principal is known.
 */
export function deliveryFor(source: SourceInfo, delivery: Delivery): Delivery {
  if (delivery.kind !== 'tunnel' || source.identity !== '') return delivery;
  return Object.freeze({ kind: 'refused', principal: '', ...(delivery.workload !== undefined ? { workload: delivery.workload } : {}) });
}

/** No mesh plane: every endpoint is dialled directly. */
export const DIRECT_VIEW: DeliveryView = Object.freeze({ deliveryOf: () => DIRECT });

/**
 * connection_security_policy of a reporter for a delivery. mutual_tls when the request crossed the mTLS
 * tunnel (on both sides, as ztunnel reports HBONE); for plaintext, "unknown" on the source side (Istio's
 * source reporters cannot tell the server's policy) and "none" on the destination side, which knows
 * the connection it delivered on was plaintext (Istio's value for plaintext at a destination).
 */
export function securityPolicy(reporter: Reporter, delivery: DeliveryKind): string {
  if (delivery === 'tunnel') return 'mutual_tls';
  return reporter === 'destination' ? 'none' : UNKNOWN;
}

/** Whether a delivery is also reported with reporter="destination" by the agent that picked it. */
export function reportsDestinationHere(delivery: DeliveryKind): boolean {
  return delivery === 'local';
}

/**
 * The source as a reporter labels it: its principal is filled when the delivery knows it, and its cluster
 * is this one when no workload named it (a client the agent serves runs on its node, so in its cluster).
 */
export function sourceFor(source: SourceInfo, delivery: DeliveryKind, cluster: string): SourceInfo {
  const principal = delivery === 'direct' || source.identity === '' ? source.principal : source.identity;
  const inCluster = source.cluster === UNKNOWN ? cluster : source.cluster;
  return principal === source.principal && inCluster === source.cluster ? source : { ...source, principal, cluster: inCluster };
}

/** An endpoint without a workload name (a ServiceEntry address) as the workload at its address. */
function named(ep: Endpoint | undefined, w: Workload | undefined): Endpoint | undefined {
  if (ep === undefined || w === undefined || ep.workload !== undefined) return ep;
  return { ...ep, workload: w.name, namespace: w.namespace, labels: Object.keys(ep.labels).length > 0 ? ep.labels : w.labels };
}

/**
 * The shared labels of one reporter for requests from SOURCE to TARGET (SERVICE's when none was picked),
 * in PROTOCOL, delivered as DELIVERY says. Built once per stats handle, never per request.
 */
export function reporterLabels(
  reporter: Reporter,
  source: SourceInfo,
  service: Service | undefined,
  target: Target | undefined,
  delivery: Delivery,
  protocol: string,
  cluster: string,
): Record<string, string> {
  delivery = deliveryFor(source, delivery);
  const dst = destinationInfo(target?.service ?? service, named(target?.endpoint, delivery.workload), cluster);
  const withPrincipal = delivery.kind === 'direct' || delivery.principal === '' ? dst : { ...dst, principal: delivery.principal };
  return baseLabels(reporter, sourceFor(source, delivery.kind, cluster), withPrincipal, protocol, securityPolicy(reporter, delivery.kind));
}
