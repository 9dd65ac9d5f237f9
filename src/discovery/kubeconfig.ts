// Where the Kubernetes API is, found the way every Kubernetes client finds it: the in-cluster
// ServiceAccount inside a pod, else --kubeconfig FILE, else $KUBECONFIG. Plus the one raw GET the
// informers need (a list), made with the client library's own connection and credential settings.
import * as http from 'node:http';
import * as https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { MeshError } from '../errors';

export function loadKubeConfig(kubeconfig: string | undefined, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  const file = kubeconfig ?? (env.KUBECONFIG || undefined);
  try {
    if (file !== undefined) kc.loadFromFile(file);
    else kc.loadFromCluster();
  } catch (e) {
    throw new MeshError('USAGE', `cannot load the Kubernetes client config${file ? ` from ${file}` : ' (in-cluster)'}: ${(e as Error).message}`);
  }
  if (!kc.getCurrentCluster()) throw new MeshError('USAGE', `the Kubernetes client config${file ? ` ${file}` : ''} names no current cluster`);
  return kc;
}

/** An API answer that is not 2xx, with the HTTP status (404: resource not installed, 410: expired). */
export class ApiStatusError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Largest list answer accepted (a hostile or broken server must not exhaust memory). */
const MAX_LIST_BYTES = 1 << 30;

/**
 * GET PATH (with query) and parse the JSON body. Uses the client library's request options (TLS,
 * tokens, exec plugins), so it authenticates exactly as its generated API clients do.
 */
export async function getJson(kc: KubeConfig, path: string, timeoutMs = 60_000): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new MeshError('USAGE', 'no current cluster in the Kubernetes client config');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  const opts: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  const lib = url.protocol === 'http:' ? http : https;
  if (url.protocol === 'http:') delete opts.agent;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { ...opts, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_LIST_BYTES) req.destroy(new Error(`answer to ${path} is larger than ${MAX_LIST_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          let message = body.slice(0, 300);
          try {
            const s = JSON.parse(body) as { message?: unknown };
            if (typeof s.message === 'string') message = s.message;
          } catch {
            // Not a Status object: keep the text.
          }
          reject(new ApiStatusError(status, `GET ${path}: ${status} ${message}`));
          return;
        }
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(new Error(`GET ${path}: malformed JSON: ${(e as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
