// gRPC over the engine: the grpc-timeout deadline, the status of a response (trailers, or the headers
// of a trailers-only response), and local replies as gRPC clients expect them (trailers-only: status
// 200, content-type application/grpc, grpc-status, grpc-message), mapping HTTP statuses as the gRPC
// spec's HTTP-to-gRPC table and Envoy do. Pure.
import type { HeaderList } from './types';

const UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

/** grpc-timeout ("1-8 digits" + H/M/S/m/u/n) in ms; undefined when absent or malformed. */
export function grpcTimeoutMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  if (m === null) return undefined;
  return Number(m[1]) * UNITS[m[2]!]!;
}

export const GRPC = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The gRPC status for a local HTTP answer (gRPC's http-grpc-status-mapping; Envoy uses the same). */
export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 400:
      return GRPC.INTERNAL;
    case 401:
      return GRPC.UNAUTHENTICATED;
    case 403:
      return GRPC.PERMISSION_DENIED;
    case 404:
      return GRPC.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GRPC.UNAVAILABLE;
    default:
      return GRPC.UNKNOWN;
  }
}

/** grpc-status of a header or trailer block, as sent ('' when absent). */
export function grpcStatusOf(list: HeaderList | undefined): string {
  if (list === undefined) return '';
  for (const [k, v] of list) if (k === 'grpc-status') return v.trim();
  return '';
}

/** grpc-message is percent-encoded (gRPC spec): space and printable ASCII except '%' stay as they are. */
export function encodeGrpcMessage(msg: string): string {
  let out = '';
  for (const b of Buffer.from(msg, 'utf8')) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** Headers of a trailers-only gRPC response carrying STATUS and MESSAGE. */
export function trailersOnly(status: number, message: string): HeaderList {
  const list: [string, string][] = [
    ['content-type', 'application/grpc'],
    ['grpc-status', String(status)],
  ];
  if (message !== '') list.push(['grpc-message', encodeGrpcMessage(message)]);
  return list;
}
