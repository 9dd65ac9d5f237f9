// An OTLP/HTTP trace receiver for the tests. No OpenTelemetry Collector can be installed on these
// machines, so this stand-in speaks the real wire format: POST /v1/traces with an
// application/x-protobuf ExportTraceServiceRequest, decoded with protobufjs from the official
// opentelemetry-proto files (test/fixtures/otlp/), answered with an empty ExportTraceServiceResponse.
// A black-hole mode accepts connections and never answers.
import * as http from 'node:http';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import * as protobuf from 'protobufjs';

function protoRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'test', 'fixtures', 'otlp');
    if (existsSync(candidate)) return candidate;
  }
  return resolve('test', 'fixtures', 'otlp');
}

let request: protobuf.Type | undefined;

/** ExportTraceServiceRequest from the official .proto files. */
export function exportRequestType(): protobuf.Type {
  if (request !== undefined) return request;
  const base = protoRoot();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(base, target);
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { keepCase: false });
  root.resolveAll();
  return (request = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'));
}

/** A received span, flattened: ids in hex, attributes as a map, the resource's service.name. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Record<string, string | number | boolean>;
  readonly statusCode: number;
  readonly flags: number;
  readonly service: string;
  readonly scope: string;
}

type Obj = Record<string, unknown>;

function value(v: Obj | undefined): string | number | boolean {
  if (v === undefined) return '';
  if (v.stringValue !== undefined) return v.stringValue as string;
  if (v.boolValue !== undefined) return v.boolValue as boolean;
  if (v.intValue !== undefined) return Number(v.intValue as string);
  if (v.doubleValue !== undefined) return v.doubleValue as number;
  return '';
}

function attrs(list: unknown): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of (list as Obj[] | undefined) ?? []) out[kv.key as string] = value(kv.value as Obj | undefined);
  return out;
}

const hex = (b: unknown): string => (b instanceof Uint8Array ? Buffer.from(b).toString('hex') : '');

/** Decodes an ExportTraceServiceRequest body into flat spans. */
export function decodeExport(body: Uint8Array): ReceivedSpan[] {
  const t = exportRequestType();
  const msg = t.toObject(t.decode(body), { longs: String, defaults: false, bytes: Uint8Array as unknown as StringConstructor }) as Obj;
  const out: ReceivedSpan[] = [];
  for (const rs of (msg.resourceSpans as Obj[] | undefined) ?? []) {
    const service = String(attrs((rs.resource as Obj | undefined)?.attributes)['service.name'] ?? '');
    for (const ss of (rs.scopeSpans as Obj[] | undefined) ?? []) {
      const scope = String((ss.scope as Obj | undefined)?.name ?? '');
      for (const s of (ss.spans as Obj[] | undefined) ?? []) {
        out.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          traceState: String(s.traceState ?? ''),
          name: String(s.name ?? ''),
          kind: Number(s.kind ?? 0),
          startNs: BigInt(String(s.startTimeUnixNano ?? '0')),
          endNs: BigInt(String(s.endTimeUnixNano ?? '0')),
          attributes: attrs(s.attributes),
          statusCode: Number((s.status as Obj | undefined)?.code ?? 0),
          flags: Number(s.flags ?? 0),
          service,
          scope,
        });
      }
    }
  }
  return out;
}

export interface Receiver {
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** POSTs received (answered or not), and their content types. */
  readonly posts: { contentType: string; path: string }[];
  close(): Promise<void>;
}

/** Starts a receiver on a loopback port; BLACKHOLE: read requests, never answer. */
export async function startReceiver(opts: { blackhole?: boolean } = {}): Promise<Receiver> {
  const spans: ReceivedSpan[] = [];
  const posts: { contentType: string; path: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      posts.push({ contentType: String(req.headers['content-type'] ?? ''), path: req.url ?? '' });
      if (opts.blackhole === true) return;
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      try {
        spans.push(...decodeExport(Buffer.concat(chunks)));
      } catch {
        res.writeHead(400).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    posts,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}
