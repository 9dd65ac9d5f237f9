// The engine's answers of its own (errors, rate limits, faults, redirects, direct responses), as plain
// text for HTTP clients and as trailers-only responses for gRPC clients.
import { grpcStatusForHttp, trailersOnly } from './grpc';
import type { HeaderList, L7Request, L7Sink } from './types';

export interface LocalAnswer {
  /** :status sent (200 for a gRPC trailers-only answer). */
  readonly code: number;
  /** grpc-status sent, '' for HTTP. */
  readonly grpcStatus: string;
  readonly bytes: number;
}

/**
 * Answers REQ with STATUS and BODY (text/plain), or for gRPC with a trailers-only response carrying
 * GRPC_STATUS (default: STATUS mapped as gRPC specifies) and BODY as grpc-message.
 */
export function answer(sink: L7Sink, req: L7Request, status: number, body: string, extra: HeaderList = [], grpcStatus?: number): LocalAnswer {
  if (req.grpc) {
    const g = grpcStatus ?? grpcStatusForHttp(status);
    sink.respond(200, [...trailersOnly(g, body), ...extra], true);
    return { code: 200, grpcStatus: String(g), bytes: 0 };
  }
  const data = Buffer.from(body, 'utf8');
  const head = req.method === 'HEAD' || data.length === 0 || status === 204 || status === 304;
  const headers: (readonly [string, string])[] = [...extra];
  if (data.length > 0) headers.push(['content-type', 'text/plain'], ['content-length', String(data.length)]);
  else if (status !== 204 && status !== 304) headers.push(['content-length', '0']);
  sink.respond(status, headers, head);
  if (!head) {
    sink.write(data);
    sink.end();
  }
  return { code: status, grpcStatus: '', bytes: head ? 0 : data.length };
}
