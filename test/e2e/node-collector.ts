// A stand-in OpenTelemetry collector per node of the namespace cluster, as a collector DaemonSet would
// run: clients/otlp-sink.js in the node's namespace (the agent's cgroup, so nothing captures it) on
// 127.0.0.1:4318, which that node's agent reaches with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318.
// Bodies are decoded here with the official OTLP schema (test/helpers/otlp-receiver.ts).
import * as path from 'node:path';
import type { Cluster, ClusterNode } from '../helpers/cluster';
import { decodeExport, exportRequestType, type ReceivedSpan } from '../helpers/otlp-receiver';
import { NODE } from './harness';

export const COLLECTOR_PORT = 4318;
export const COLLECTOR_URL = `http://127.0.0.1:${COLLECTOR_PORT}`;

/** A span as a backend stores it: with the resource it came with and the node whose collector got it. */
export interface CollectedSpan extends ReceivedSpan {
  readonly resource: Readonly<Record<string, string>>;
  readonly collector: string;
}

type Obj = Record<string, unknown>;

/** Resource attributes (string values) of each ResourceSpans in an export, in order. */
function resourcesOf(body: Uint8Array): Record<string, string>[] {
  const t = exportRequestType();
  const msg = t.toObject(t.decode(body), { defaults: false }) as Obj;
  return ((msg.resourceSpans as Obj[] | undefined) ?? []).map((rs) => {
    const out: Record<string, string> = {};
    for (const kv of ((rs.resource as Obj | undefined)?.attributes as Obj[] | undefined) ?? []) out[String(kv.key)] = String((kv.value as Obj | undefined)?.stringValue ?? '');
    return out;
  });
}

export class NodeCollector {
  readonly spans: CollectedSpan[] = [];
  readonly posts: { path: string; method: string; contentType: string }[] = [];
  readonly errors: string[] = [];
  private constructor(readonly node: ClusterNode) {}

  /** Starts the sink in NODE's namespace and resolves once it listens. */
  static async start(c: Cluster, node: ClusterNode): Promise<NodeCollector> {
    const child = c.spawn(node, NODE, [path.join(__dirname, 'clients/otlp-sink.js'), '127.0.0.1', String(COLLECTOR_PORT)]);
    const col = new NodeCollector(node);
    await new Promise<void>((resolve, reject) => {
      let rest = '';
      let ready = false;
      child.stdout?.on('data', (d: Buffer) => {
        rest += d.toString();
        for (let i = rest.indexOf('\n'); i >= 0; i = rest.indexOf('\n')) {
          const line = rest.slice(0, i);
          rest = rest.slice(i + 1);
          if (line === 'ready') {
            ready = true;
            resolve();
          } else if (line !== '') col.take(line);
        }
      });
      child.stderr?.on('data', (d: Buffer) => col.errors.push(d.toString()));
      child.once('exit', (code) => {
        if (!ready) reject(new Error(`collector on ${node.name} exited (${code}): ${col.errors.join('')}`));
      });
    });
    return col;
  }

  private take(line: string): void {
    const post = JSON.parse(line) as { path: string; method: string; contentType: string; body: string };
    this.posts.push({ path: post.path, method: post.method, contentType: post.contentType });
    const body = Buffer.from(post.body, 'base64');
    try {
      // decodeExport walks resources in order, so each span's resource is found by its service name.
      const resources = resourcesOf(body);
      for (const s of decodeExport(body)) {
        const resource = resources.find((r) => r['service.name'] === s.service) ?? {};
        this.spans.push({ ...s, resource, collector: this.node.name });
      }
    } catch (e) {
      this.errors.push(`undecodable export: ${String(e)}`);
    }
  }
}
