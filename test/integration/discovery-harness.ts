// Shared pieces of the discovery integration tests: a Kubernetes API stand-in with a kubeconfig, a real
// Discovery on it (its metrics on a fresh registry, Events through the client library), the agent's log
// lines captured, bounded waits, and a rewriting proxy for what the stand-in cannot store (objects of
// another apiVersion, list items that are no objects) and for an API that resets every connection.
import type { TestContext } from 'node:test';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Discovery, type DiscoveryOptions } from '../../src/discovery/discovery';
import { KubeEvents } from '../../src/discovery/events';
import type { InformerOptions } from '../../src/discovery/informer';
import { loadKubeConfig } from '../../src/discovery/kubeconfig';
import { DiscoveryMetrics } from '../../src/discovery/metrics';
import { rootLogger } from '../../src/log';
import { KubeApiServer, type KubeApiOptions, type KubeObject } from '../helpers/kubeapi';

// ---- log lines -------------------------------------------------------------------------------------

export interface LogLine {
  readonly level: number;
  readonly module?: string;
  readonly msg?: string;
  readonly [k: string]: unknown;
}

/** Every line the agent's loggers wrote since the harness loaded (at most MAX_LINES: a runaway is bounded). */
export const logs: LogLine[] = [];
const MAX_LINES = 100_000;

// Module loggers are prototype children of the root logger: its level and stream are theirs too.
rootLogger.level = 'info';
(rootLogger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] = {
  write(s: string): void {
    if (logs.length >= MAX_LINES) return;
    try {
      logs.push(JSON.parse(s) as LogLine);
    } catch {
      logs.push({ level: 30, module: 'harness', msg: `unparsable log line of ${s.length} characters` });
    }
  },
};

export const WARN = 40;
export const ERROR = 50;

/** Lines logged after index FROM, from MODULE (a prefix: 'discovery' includes 'discovery.events'). */
export function linesSince(from: number, module = 'discovery'): LogLine[] {
  return logs.slice(from).filter((l) => typeof l.module === 'string' && l.module.startsWith(module));
}

// ---- waiting -----------------------------------------------------------------------------------------

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what: string | (() => string), pred: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(15);
  }
}

// ---- metrics -----------------------------------------------------------------------------------------

/** Sum of a metric's values whose labels include LABELS (undefined when the metric has no such value). */
export async function metric(reg: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = reg.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  const hits = values.filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want));
  return hits.length === 0 ? undefined : hits.reduce((a, v) => a + v.value, 0);
}

// ---- the stand-in and discovery ----------------------------------------------------------------------

type Cleanup = Pick<TestContext, 'after'>;

export function tempDir(t: Cleanup): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-discovery-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A stand-in on a free port with its kubeconfig written; stopped after the test. */
export async function standIn(t: Cleanup, opts: KubeApiOptions = {}): Promise<{ api: KubeApiServer; kubeconfig: string; dir: string }> {
  const dir = tempDir(t);
  const api = await KubeApiServer.start(opts);
  t.after(() => api.stop());
  const kubeconfig = path.join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  return { api, kubeconfig, dir };
}

/** Fast retries for tests: absent CRDs looked for every 100 ms, backoff 50 ms → 400 ms. */
export const FAST: InformerOptions = { backoffMs: { base: 50, max: 400 }, absentRetryMs: 100 };

export interface Running {
  readonly d: Discovery;
  readonly registry: Registry;
  /** How often onChange was called. */
  changes: number;
}

export interface RunOptions extends Partial<Omit<DiscoveryOptions, 'kc' | 'metrics' | 'onChange' | 'events'>> {
  /** Write Events through the client library (default true). */
  readonly events?: boolean;
  readonly onChange?: () => void;
}

/** A Discovery on KUBECONFIG, not started yet; stopped after the test. */
export function makeDiscovery(t: Cleanup, kubeconfig: string, o: RunOptions = {}): Running {
  const kc = loadKubeConfig(kubeconfig);
  const registry = new Registry();
  const node = o.node ?? 'node-a';
  const d = new Discovery({
    kc,
    node,
    clusterDomain: o.clusterDomain ?? 'cluster.local',
    metrics: new DiscoveryMetrics(registry),
    ...(o.events === false ? {} : { events: new KubeEvents(kc, node) }),
    onChange: () => {
      r.changes++;
      o.onChange?.();
    },
    ...(o.coalesceMs !== undefined ? { coalesceMs: o.coalesceMs } : {}),
    ...(o.istio !== undefined ? { istio: o.istio } : {}),
    informer: o.informer ?? FAST,
  });
  const r: Running = { d, registry, changes: 0 };
  t.after(() => d.stop());
  return r;
}

export async function startSynced(t: Cleanup, kubeconfig: string, o: RunOptions = {}): Promise<Running> {
  const r = makeDiscovery(t, kubeconfig, o);
  r.d.start();
  await waitFor(() => `the first sync (still listing: ${r.d.unsynced().join(', ')})`, () => r.d.synced);
  return r;
}

// ---- a rewriting proxy -------------------------------------------------------------------------------

export type Rewrite = (resourcePath: string, obj: unknown) => unknown;

export interface Proxy {
  url: string;
  readonly kubeconfig: string;
  /** true: every request's connection is reset (an API that is away), counted in `refused`. */
  down: boolean;
  /** Arrival times (ms) of requests refused while down, by request path. */
  readonly refused: Map<string, number[]>;
  rewrite: Rewrite;
  /** Cuts every open connection (watches break). */
  cut(): void;
}

/**
 * A proxy in front of API: every list item and watch event object passes through `rewrite` (by the
 * request's path), so a test can make the API send what no real store would keep.
 */
export async function rewritingProxy(t: Cleanup, api: KubeApiServer, dir: string): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const p: Proxy = { url: '', kubeconfig: path.join(dir, 'kubeconfig-proxy'), down: false, refused: new Map(), rewrite: (_p, o) => o, cut: () => {
    for (const s of sockets) s.destroy();
  } };
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (p.down) {
      const list = p.refused.get(url.pathname) ?? [];
      list.push(Date.now());
      p.refused.set(url.pathname, list);
      req.socket.destroy();
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: api.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const watch = url.searchParams.get('watch') === 'true';
      const json = (ur.headers['content-type'] ?? '').startsWith('application/json');
      if (!json || req.method !== 'GET' || (ur.statusCode ?? 0) !== 200) {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        return;
      }
      const headers = { ...ur.headers };
      delete headers['content-length'];
      res.writeHead(200, headers);
      if (watch) {
        // Lines may be tens of MB: only each new chunk is searched for the end of a line.
        let pending: Buffer[] = [];
        ur.on('data', (chunk: Buffer) => {
          let start = 0;
          let nl: number;
          while ((nl = chunk.indexOf(10, start)) >= 0) {
            const line = Buffer.concat([...pending, chunk.subarray(start, nl)]).toString('utf8');
            pending = [];
            start = nl + 1;
            const ev = JSON.parse(line) as { type: string; object: unknown };
            if (ev.type !== 'BOOKMARK' && ev.type !== 'ERROR') ev.object = p.rewrite(url.pathname, ev.object);
            res.write(`${JSON.stringify(ev)}\n`);
          }
          if (start < chunk.length) pending.push(chunk.subarray(start));
        });
        ur.on('end', () => res.end());
        ur.on('error', () => res.destroy());
      } else {
        const chunks: Buffer[] = [];
        ur.on('data', (c: Buffer) => chunks.push(c));
        ur.on('end', () => {
          const list = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { items?: unknown[] };
          if (Array.isArray(list.items)) list.items = list.items.map((o) => p.rewrite(url.pathname, o));
          res.end(JSON.stringify(list));
        });
      }
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  srv.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  p.url = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  t.after(
    () =>
      new Promise<void>((r) => {
        srv.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  );
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'kubeconfig'), 'utf8')) as { clusters: { cluster: { server: string } }[] };
  cfg.clusters[0]!.cluster.server = p.url;
  fs.writeFileSync(p.kubeconfig, JSON.stringify(cfg), { mode: 0o600 });
  return p;
}

// ---- objects -----------------------------------------------------------------------------------------

/** A VirtualService as a user applies it (one HTTP route to HOST, TIMEOUT as its version mark). */
export function virtualService(name: string, ns: string, host: string, timeout: unknown = '1s'): KubeObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace: ns },
    spec: { hosts: [host], http: [{ timeout, route: [{ destination: { host } }] }] },
  };
}
