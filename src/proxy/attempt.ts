// Starting a try from the engine: the connection settings from the destination's DestinationRule, the
// engine's pools and bind address; the tries themselves (HTTP/1.1, HTTP/2) live with the upstream transports.
import type { Addr } from '../capture/types';
import type { ResolvedDestination } from '../route/types';
import type { Attempt, AttemptEvents, AttemptOptions, UpstreamHead } from '../upstream/attempt';
import { h1Attempt } from '../upstream/h1/attempt';
import { h2Attempt } from '../upstream/h2/attempt';
import { keyWith } from '../upstream/h1/pool';
import { tlsFor } from '../upstream/tls';
import type { EngineParts } from './deps';

export type { Attempt, AttemptEvents, AttemptFailure, AttemptOptions, FailureKind, UpstreamHead } from '../upstream/attempt';

/** No DestinationRule connection settings: shared, nothing allocated per try. */
const NO_OPTIONS: AttemptOptions = Object.freeze({});

/** Options per destination, made once (destinations are shared objects of one config). */
const OPTIONS = new WeakMap<ResolvedDestination, AttemptOptions>();

/** The connection settings of a try to DEST (DestinationRule connectionPool and tls). */
export function attemptOptions(dest: ResolvedDestination): AttemptOptions {
  const hit = OPTIONS.get(dest);
  if (hit !== undefined) return hit;
  const cp = dest.policy.connectionPool;
  const tls = tlsFor(dest);
  const made =
    cp?.connectTimeoutMs === undefined && cp?.maxRequestsPerConnection === undefined && tls === undefined
      ? NO_OPTIONS
      : Object.freeze({
          ...(cp?.connectTimeoutMs !== undefined ? { connectTimeoutMs: cp.connectTimeoutMs } : {}),
          ...(cp?.maxRequestsPerConnection !== undefined ? { maxRequestsPerConnection: cp.maxRequestsPerConnection } : {}),
          ...(tls !== undefined ? { tls } : {}),
        });
  OPTIONS.set(dest, made);
  return made;
}

/**
 * A try to the endpoint KEY (dialling ADDR) on the engine's HTTP/2 pool (H2) or HTTP/1.1 pool, bound to
 * the engine's local address when it has one (pooled apart then). FRESH: no pooled HTTP/1.1 connection.
 */
export function startTry(
  p: EngineParts, h2: boolean, key: string, addr: Addr, head: UpstreamHead, bodyless: boolean, opts: AttemptOptions, ev: AttemptEvents, fresh = false,
): Attempt {
  const local = p.localAddress;
  // Connections that originate TLS are pooled apart, per TLS settings.
  const k = opts.tls === undefined ? keyWith(key, local) : `${keyWith(key, local)}|tls:${opts.tls.id}`;
  return h2 ? h2Attempt(p.h2, k, addr, head, bodyless, opts, ev, local) : h1Attempt(p.pool, k, addr, head, bodyless, opts, ev, local, fresh);
}
