// HTTP plumbing of the Kubernetes API stand-in (see kubeapi.ts): request bodies (JSON, patches, what the
// server refuses in them), RBAC refusals, and list bodies streamed in batches.
import type * as http from 'node:http';
import { jsonPatch, mergePatch } from './kubeapi-patch';
import { apiVersionOf, failure, type KubeStatus, type ResourceDef } from './kubeapi-resources';
import type { Entry } from './kubeapi-store';

const MAX_BODY = 16 * 1024 * 1024;
const LIST_BATCH = 1000;

export type Parsed = { readonly obj: Record<string, unknown> } | { readonly err: KubeStatus };

export function forbidden(resource: string, group: string, verb: string, namespace: string | undefined): KubeStatus {
  const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
  return failure(403, `${resource}${group ? '.' + group : ''} is forbidden: User "system:serviceaccount:nodemesh:nodemesh" cannot ${verb} resource "${resource}" in API group "${group}" ${scope}`, 'Forbidden', { group, kind: resource });
}

export function parseJson(body: Buffer): Parsed {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return { obj: v as Record<string, unknown> };
    return { err: failure(400, 'the body of the request was not a JSON object') };
  } catch (e) {
    return { err: failure(400, `couldn't get version/kind; json parse error: ${(e as Error).message}`) };
  }
}

export function patch(contentType: string, current: unknown, body: Buffer): Parsed {
  const type = contentType.split(';')[0]!.trim();
  let p: unknown;
  try {
    p = JSON.parse(body.toString('utf8'));
  } catch (e) {
    return { err: failure(400, `json parse error: ${(e as Error).message}`) };
  }
  let out: unknown;
  if (type === 'application/json-patch+json') out = jsonPatch(current, p);
  else if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') out = mergePatch(current, p);
  else return { err: failure(415, 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json') };
  if (out !== null && typeof out === 'object' && 'error' in out && typeof out.error === 'string') return { err: failure(422, out.error, 'Invalid') };
  if (out === null || typeof out !== 'object' || Array.isArray(out)) return { err: failure(422, 'the patched object is not an object', 'Invalid') };
  return { obj: out as Record<string, unknown> };
}

/** What the server refuses in a create or update body: another kind, another namespace, another name. */
export function checkBody(def: ResourceDef, obj: Record<string, unknown>, namespace: string, name: string | undefined): KubeStatus | undefined {
  if (obj.kind !== undefined && obj.kind !== def.kind) return failure(400, `the kind of the provided object (${String(obj.kind)}) does not match the resource (${def.kind})`);
  if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersionOf(def)) return failure(400, `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${apiVersionOf(def)})`);
  const meta = obj.metadata;
  if (meta !== undefined && (meta === null || typeof meta !== 'object' || Array.isArray(meta))) return failure(400, 'metadata must be an object');
  const m = (meta ?? {}) as { namespace?: unknown; name?: unknown };
  if (def.namespaced && m.namespace !== undefined && m.namespace !== '' && m.namespace !== namespace) {
    return failure(400, 'the namespace of the provided object does not match the namespace sent on the request');
  }
  if (name !== undefined && m.name !== undefined && m.name !== name) return failure(400, `the name of the object (${String(m.name)}) does not match the name on the URL (${name})`);
  if (name !== undefined && m.name === undefined) obj.metadata = { ...m, name };
  return undefined;
}

/** The request body, or null past MAX_BODY. */
export function readBody(req: http.IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(null);
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve(null));
  });
}

/** Writes a list body in batches, waiting for the socket to drain, so a 100k-item list never builds one huge string. */
export async function writeList(res: http.ServerResponse, head: string, entries: readonly Entry[]): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  let ok = res.write(head);
  for (let i = 0; i < entries.length; i += LIST_BATCH) {
    if (!ok) await drained(res);
    if (res.destroyed) return;
    const batch = entries.slice(i, i + LIST_BATCH).map((e) => e.item).join(',');
    ok = res.write(i === 0 ? batch : ',' + batch);
  }
  res.end(']}');
}

function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
