// The destination side's admission, decided: a tunnel stream's verified caller and target, plus the
// request's attributes on HTTP ports, make the AuthorizationPolicy request; the decision becomes what the
// destination does with it: deliver it to the pod, or deny it with Envoy's RBAC answer. No routing:
// the source agent routed already, and the stream names the one pod to deliver to. Pure (no I/O, no
// clock), so the listener (per TCP connection) and the engine (per HTTP request) share it.
import type { Addr } from '../capture/types';
import { CATALOG } from '../errors';
import { isIPv4 } from '../config/formats';
import type { AuthzDecision, AuthzRequest } from './authz';
import type { RequestAuth } from './match';

/** Envoy's body for an RBAC denial, and the grpc-message of a denied gRPC call. */
export const RBAC_DENIED = CATALOG.RBAC_DENIED.message;

/** Who opened the tunnel stream, as authorization reads it (set from the verified mTLS identity only). */
export interface Caller {
  /** `<td>/ns/<ns>/sa/<sa>`, from the peer agent's certificate. */
  readonly principal: string;
  /** The principal's namespace; undefined when it names none. */
  readonly namespace: string | undefined;
  /** The client workload's address when the peer's claim is believed, else the peer agent's. */
  readonly ip: string;
}

/** What a request shows policies: an L7Request (proxy/types.ts) satisfies it. */
export interface RequestAttributes {
  readonly method: string;
  readonly path: string;
  /** The host: HTTP/1 Host, or HTTP/2 :authority. */
  readonly authority: string;
  /** The fields as forwarded: lower-case names, hop-by-hop fields and host already removed. */
  headers(): readonly (readonly [string, string])[];
}

export type DestinationVerdict =
  | { readonly kind: 'forward'; readonly decision: AuthzDecision }
  | { readonly kind: 'deny'; readonly status: number; readonly body: string; readonly flag: string; readonly decision: AuthzDecision };

/** The policy request for CALLER at TARGET; HTTP attributes for a request, none for a TCP connection. */
export function authzRequestOf(caller: Caller, target: Addr, http?: AuthzRequest['http'], extra: RequestExtras = {}): AuthzRequest {
  return {
    source: { principal: caller.principal, ...(caller.namespace !== undefined ? { namespace: caller.namespace } : {}), ip: caller.ip },
    destination: { ip: target.address, port: target.port },
    ...(http !== undefined ? { http } : {}),
    ...(extra.auth !== undefined ? { auth: extra.auth } : {}),
    ...(extra.remoteIp !== undefined ? { remoteIp: extra.remoteIp } : {}),
  };
}

/** What request authentication and X-Forwarded-For add to a request's attributes. */
export interface RequestExtras {
  readonly auth?: RequestAuth | undefined;
  readonly remoteIp?: string | undefined;
}

/**
 * The client address for remoteIpBlocks and remote.ip (Envoy's xff_num_trusted_hops): with TRUSTED
 * proxies in front, the TRUSTED-th address from the right of X-Forwarded-For; with none, or when the
 * field has fewer addresses (or that one is not an IPv4 address), the connection's client, FALLBACK.
 */
export function remoteAddress(xff: string | undefined, trusted: number, fallback: string): string {
  if (trusted <= 0 || xff === undefined) return fallback;
  const hops = xff.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const picked = hops[hops.length - trusted];
  return picked !== undefined && isIPv4(picked) ? picked : fallback;
}

/**
 * The HTTP attributes of REQ. Repeated fields are joined with ", " (as node's server joined them for
 * this side before). Hop-by-hop fields are not visible to policies, as in Envoy, which removes them
 * before its RBAC filter runs; host is the request's authority.
 */
export function httpAttributes(req: RequestAttributes): NonNullable<AuthzRequest['http']> {
  // No prototype: a field named like an Object property is just a field.
  const headers = Object.create(null) as Record<string, string>;
  for (const [k, v] of req.headers()) {
    const had = headers[k];
    headers[k] = had === undefined ? v : `${had}, ${v}`;
  }
  if (req.authority !== '') headers['host'] = req.authority;
  return { method: req.method, path: req.path, host: req.authority, headers };
}

/**
 * Admission at the destination: AUTHORIZE (the destination workload's policies, Istio's order) decides;
 * a denial is answered 403 "RBAC: access denied" (gRPC: PERMISSION_DENIED, mapped by the engine's local
 * answer) and counted with response_flags DENY.
 */
export function decideAtDestination(authorize: (r: AuthzRequest) => AuthzDecision, caller: Caller, target: Addr, req: RequestAttributes, extra: RequestExtras = {}): DestinationVerdict {
  const decision = authorize(authzRequestOf(caller, target, httpAttributes(req), extra));
  if (decision.allowed) return { kind: 'forward', decision };
  const e = CATALOG.RBAC_DENIED;
  return { kind: 'deny', status: e.status, body: e.message, flag: e.flag, decision };
}
