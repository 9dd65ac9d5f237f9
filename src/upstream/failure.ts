// Which catalog error, response flag and status an upstream failure maps to, and whether it counts
// against the endpoint's health. Pure, so the mapping is table-tested rather than found in production.
import { CATALOG, type ErrorName } from '../errors';

/** connect: no connection yet; before-headers: connected, no response; after-headers: mid-response. */
export type UpstreamPhase = 'connect' | 'before-headers' | 'after-headers';

export interface FailureVerdict {
  readonly error: ErrorName;
  readonly flag: string;
  /** HTTP status to answer with; undefined once headers went out (the client connection is reset). */
  readonly status: number | undefined;
  /** Counts as a connect failure: eject the endpoint for a cooldown. */
  readonly eject: boolean;
}

/** Our own code for a connect that outlived the connect timeout. */
export const CONNECT_TIMEOUT_CODE = 'NM_CONNECT_TIMEOUT';

/** Errors that say the endpoint itself is not there (as opposed to local resource trouble). */
const EJECTING = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ETIMEDOUT', 'ECONNRESET', CONNECT_TIMEOUT_CODE]);

function verdict(error: ErrorName, eject: boolean, withStatus: boolean): FailureVerdict {
  const entry: { readonly status?: number; readonly flag?: string; readonly message: string } = CATALOG[error];
  return { error, flag: entry.flag ?? '-', status: withStatus ? entry.status : undefined, eject };
}

export function classifyUpstreamError(code: string | undefined, phase: UpstreamPhase): FailureVerdict {
  switch (phase) {
    case 'connect':
      return verdict('UPSTREAM_CONNECT', code !== undefined && EJECTING.has(code), true);
    case 'before-headers':
      // llhttp's codes (HPE_*) mean the upstream answered with something that is not HTTP/1.1.
      if (code !== undefined && code.startsWith('HPE_')) return verdict('UPSTREAM_PROTOCOL', false, true);
      return verdict('UPSTREAM_TERMINATED', false, true);
    case 'after-headers':
      return verdict('UPSTREAM_RESET', false, false);
  }
}

/** The route timeout fired: 504 UT before headers, a reset with UT after. */
export function timeoutVerdict(headersSent: boolean): FailureVerdict {
  return verdict('UPSTREAM_TIMEOUT', false, !headersSent);
}

export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
