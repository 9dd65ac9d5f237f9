// A STAND-IN for the Kubernetes API server, for the tests and benches only: no real API server can be
// installed on these machines. It speaks the real wire protocol (JSON over HTTP/1.1 with a bearer token,
// as @kubernetes/client-node 2.x uses it), so the agent and the CA cannot tell it from a real server.
//
// Covered: get/list/watch/create/update/patch/delete of core v1 pods, services, namespaces, nodes, events,
// secrets, configmaps; apps/v1 replicasets and deployments; discovery.k8s.io/v1 endpointslices;
// events.k8s.io/v1 events; Istio's networking.istio.io/v1 and security.istio.io/v1 resources (404 without
// `istioCrds`). Lists carry a resourceVersion and page with limit/continue; labelSelector and
// fieldSelector filter lists and watches. Watches stream ADDED/MODIFIED/DELETED, BOOKMARK and ERROR
// (410 Expired past the bounded history) events. TokenReview answers for tokens registered by addToken.
// Tests break it on purpose: expireWatches() (compaction), restart() (a crash), RBAC refusals (`forbid`).
// Not covered: admission, validation beyond what the tests need, finalizers and graceful deletion,
// server-side apply, subresources, protobuf, and any resource not listed above.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { review, type TokenUser } from './kubeapi-auth';
import { checkBody, forbidden, parseJson, patch, readBody, writeList } from './kubeapi-http';
import { apiVersionOf, defByKind, failure, notFound, parsePath, RESOURCES, type KubeStatus, type ResourceDef } from './kubeapi-resources';
import { parseFieldSelector, parseLabelSelector } from './kubeapi-select';
import { fullJson, Store, type Entry, type Filter, type KubeObject } from './kubeapi-store';
import { WatchHub } from './kubeapi-watch';

export type { KubeObject } from './kubeapi-store';
export type { TokenUser } from './kubeapi-auth';

export interface KubeApiOptions {
  /** 0 (default) picks a free port; a fixed one brings a stand-in back where clients already point. */
  readonly port?: number;
  /** The bearer token every request must carry (default: random). */
  readonly token?: string;
  /** false: every networking.istio.io / security.istio.io path answers 404 (no Istio CRDs). Default true. */
  readonly istioCrds?: boolean;
  /** Interval of BOOKMARK events to watches that asked for them (allowWatchBookmarks=true). Default 1000. */
  readonly bookmarkMs?: number;
  /** Events kept per resource for watches to resume from. Default 10000. */
  readonly historySize?: number;
  /** RBAC refusals (403): of TokenReview, of writing Events. Changeable at run time through `forbid`. */
  readonly forbid?: { tokenReviews?: boolean; events?: boolean };
}

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'other';

/** An Event as the tests check it, from either API (core v1 or events.k8s.io/v1). */
export interface KubeEventView {
  readonly apiVersion: string;
  readonly namespace: string;
  readonly name: string;
  readonly reason: string;
  readonly type: string;
  /** message (core v1) or note (events.k8s.io/v1). */
  readonly message: string;
  /** involvedObject (core v1) or regarding (events.k8s.io/v1). */
  readonly regarding: { kind?: string; namespace?: string; name?: string; uid?: string; apiVersion?: string };
  readonly object: KubeObject;
}

export class KubeApiServer {
  readonly token: string;
  /** RBAC refusals, switchable at run time. */
  readonly forbid: { tokenReviews: boolean; events: boolean };
  private readonly store: Store;
  private readonly hub: WatchHub;
  private readonly tokens = new Map<string, TokenUser>();
  private readonly counters = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  private server: http.Server | undefined;
  private boundPort: number;
  private crds: boolean;

  private constructor(opts: KubeApiOptions) {
    this.token = opts.token ?? `standin-${randomBytes(12).toString('hex')}`;
    this.crds = opts.istioCrds ?? true;
    this.forbid = { tokenReviews: opts.forbid?.tokenReviews ?? false, events: opts.forbid?.events ?? false };
    this.boundPort = opts.port ?? 0;
    this.store = new Store(opts.historySize ?? 10_000);
    this.hub = new WatchHub(this.store, opts.bookmarkMs ?? 1000);
    this.store.onEvent = (def, ev) => this.hub.publish(def, ev);
  }

  static async start(opts: KubeApiOptions = {}): Promise<KubeApiServer> {
    const s = new KubeApiServer(opts);
    await s.listen();
    return s;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  /**
   * A kubeconfig (server, bearer token) that KubeConfig.loadFromFile accepts; JSON is valid YAML. The client
   * refuses plain http unless insecure-skip-tls-verify is set, hence that flag. `server`: the address as
   * the reader sees it (e.g. through a bridge into a network namespace).
   */
  writeKubeconfig(file: string, server = this.url): void {
    const cfg = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'standin', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'standin', user: { token: this.token } }],
      contexts: [{ name: 'standin', context: { cluster: 'standin', user: 'standin', namespace: 'default' } }],
      'current-context': 'standin',
    };
    fs.writeFileSync(file, JSON.stringify(cfg, null, 2), { mode: 0o600 });
  }

  // ---- the store, as tests and benches drive it (watchers see every change) ----

  /** Creates or replaces (metadata.resourceVersion in `obj` is ignored); returns the stored object. */
  apply(obj: KubeObject): KubeObject {
    const [def, e] = this.applyOne(obj);
    return JSON.parse(fullJson(def, e)) as KubeObject;
  }

  /** apply() for many objects without reading them back: the bench's 100k pods load in a second or two. */
  applyMany(objs: Iterable<KubeObject>): number {
    let n = 0;
    for (const o of objs) {
      this.applyOne(o);
      n++;
    }
    return n;
  }

  private applyOne(obj: KubeObject): [ResourceDef, Entry] {
    const def = this.defOf(obj.apiVersion, obj.kind);
    const e = this.store.write(def, obj, 'apply');
    if ('code' in e) throw new Error(`apply ${obj.kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}: ${e.message}`);
    return [def, e];
  }

  /** Deletes; returns the object as deleted (with the deletion's resourceVersion), undefined when absent. */
  remove(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined {
    const def = this.defOf(apiVersion, kind);
    const e = this.store.delete(def, namespace, name);
    return 'code' in e ? undefined : (JSON.parse(fullJson(def, e)) as KubeObject);
  }

  get(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined {
    const def = this.defOf(apiVersion, kind);
    const e = this.store.find(def, namespace, name);
    return e ? (JSON.parse(fullJson(def, e)) as KubeObject) : undefined;
  }

  /** Current objects of a kind (with kind and apiVersion), in one namespace or all. */
  list(apiVersion: string, kind: string, namespace?: string): KubeObject[] {
    const def = this.defOf(apiVersion, kind);
    return this.store.select(def, { namespace, labels: [], fields: [] }).map((e) => JSON.parse(fullJson(def, e)) as KubeObject);
  }

  /** The latest resourceVersion handed out. */
  resourceVersion(): string {
    return String(this.store.currentRv());
  }

  private defOf(apiVersion: string | undefined, kind: string | undefined): ResourceDef {
    const def = defByKind(apiVersion ?? '', kind ?? '');
    if (!def) throw new Error(`the Kubernetes API stand-in does not serve ${apiVersion}/${kind}`);
    return def;
  }

  /** Registers what TokenReview answers for `token`. */
  addToken(token: string, user: TokenUser): void {
    this.tokens.set(token, user);
  }

  /** Events written through either API, oldest first. */
  events(): KubeEventView[] {
    const all = RESOURCES.filter((d) => d.kind === 'Event').flatMap((def) => this.store.select(def, { labels: [], fields: [] }).map((e) => [def, e] as const));
    all.sort((a, b) => a[1].rv - b[1].rv);
    return all.map(([def, e]) => {
      const o = JSON.parse(fullJson(def, e)) as Record<string, unknown>;
      const str = (v: unknown): string => (typeof v === 'string' ? v : '');
      const core = def.group === '';
      return {
        apiVersion: apiVersionOf(def),
        namespace: e.namespace,
        name: e.name,
        reason: str(o.reason),
        type: str(o.type),
        message: str(core ? o.message : o.note),
        regarding: ((core ? o.involvedObject : o.regarding) ?? {}) as KubeEventView['regarding'],
        object: o as KubeObject,
      };
    });
  }

  // ---- failures on purpose ----

  /** Compaction: ends every open watch with 410 Expired, and current resourceVersions become too old. */
  expireWatches(): void {
    this.store.compact();
    this.hub.expireAll(this.store.currentRv());
  }

  /** Whether Istio's CRDs are installed. Removing them ends the open Istio watches (their next request is a 404). */
  get istioCrds(): boolean {
    return this.crds;
  }

  set istioCrds(on: boolean) {
    this.crds = on;
    if (!on) this.hub.endWhere((d) => d.istio === true);
  }

  /** A crashed and restarted API server: every connection is cut, then it listens on the same port with the same state. */
  async restart(downMs = 0): Promise<void> {
    await this.close();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.listen();
  }

  async stop(): Promise<void> {
    await this.close();
    this.hub.stop();
  }

  // ---- request counters ----

  /** Requests by verb, on one exact path (or matching a RegExp), or on all paths. */
  count(verb: Verb, path?: string | RegExp): number {
    let n = 0;
    for (const [k, v] of this.counters) {
      const sp = k.indexOf(' ');
      if (k.slice(0, sp) !== verb) continue;
      const p = k.slice(sp + 1);
      if (path === undefined || (typeof path === 'string' ? p === path : path.test(p))) n += v;
    }
    return n;
  }

  /** Every counter as "verb path" → n. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  resetCounts(): void {
    this.counters.clear();
  }

  /** Open watches, all or on one path (e.g. '/api/v1/pods'). */
  watchCount(path?: string): number {
    return this.hub.count(path);
  }

  // ---- HTTP ----

  private listen(): Promise<void> {
    const srv = http.createServer((req, res) => {
      res.on('error', () => {});
      req.on('error', () => {});
      this.handle(req, res).catch((e: unknown) => this.fail(res, failure(500, `internal error: ${String(e)}`)));
    });
    srv.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    srv.on('clientError', (_e, s) => s.destroy());
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(this.boundPort, '127.0.0.1', () => {
        srv.off('error', reject);
        this.server = srv;
        this.boundPort = (srv.address() as { port: number }).port;
        resolve();
      });
    });
  }

  private async close(): Promise<void> {
    const srv = this.server;
    if (!srv) return;
    this.server = undefined;
    const closed = new Promise<void>((r) => srv.close(() => r()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${this.token}`) return this.fail(res, failure(401, 'Unauthorized'));
    const q = url.searchParams;
    const route = parsePath(url.pathname, this.istioCrds);
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    const method = req.method ?? 'GET';
    const named = route.type === 'resource' && route.name !== undefined;
    const verb: Verb =
      method === 'GET' ? (named ? 'get' : watch ? 'watch' : route.type === 'resource' ? 'list' : 'get')
        : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? 'delete' : 'other';
    const key = `${verb} ${url.pathname}`;
    this.counters.set(key, (this.counters.get(key) ?? 0) + 1);
    const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? await readBody(req) : undefined;
    if (body === null) return this.fail(res, failure(413, 'request entity too large'));

    switch (route.type) {
      case 'text':
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        return void res.end(route.text);
      case 'discovery':
        return method === 'GET' ? this.send(res, 200, JSON.stringify(route.body())) : this.fail(res, failure(405, `the server does not allow this method on the requested resource`));
      case 'unknown':
        return this.fail(res, failure(404, 'the server could not find the requested resource', 'NotFound'));
      case 'tokenreview': {
        if (method !== 'POST') return this.fail(res, failure(405, 'the server does not allow this method on the requested resource'));
        if (this.forbid.tokenReviews) return this.fail(res, forbidden('tokenreviews', 'authentication.k8s.io', 'create', undefined));
        const parsed = parseJson(body!);
        if ('err' in parsed) return this.fail(res, parsed.err);
        const spec = (parsed.obj.spec ?? {}) as { token?: unknown; audiences?: unknown };
        const out = { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: review(this.tokens, spec.token, spec.audiences) };
        return this.send(res, 201, JSON.stringify(out));
      }
    }
    const { def, namespace = '', name } = route;
    if (def.kind === 'Event' && this.forbid.events && (verb === 'create' || verb === 'update' || verb === 'patch')) {
      return this.fail(res, forbidden(def.resource, def.group, verb, namespace));
    }
    const notAllowed = (): void => this.fail(res, failure(405, 'the server does not allow this method on the requested resource', 'MethodNotAllowed'));
    if (method === 'GET' && name !== undefined) {
      const e = this.store.find(def, namespace, name);
      return e ? this.send(res, 200, fullJson(def, e)) : this.fail(res, notFound(def, name));
    }
    if (method === 'GET') {
      const filter = this.filterOf(def, route.namespace, q);
      if ('code' in filter) return this.fail(res, filter);
      if (watch) {
        const timeout = q.get('timeoutSeconds');
        const st = this.hub.open(def, filter, res, {
          path: url.pathname,
          resourceVersion: q.get('resourceVersion') ?? undefined,
          bookmarks: q.get('allowWatchBookmarks') === 'true',
          timeoutSeconds: timeout !== null ? Number(timeout) : undefined,
        });
        return st ? this.fail(res, st) : undefined;
      }
      const limit = Number(q.get('limit') ?? '');
      const page = this.store.page(def, filter, Number.isSafeInteger(limit) && limit > 0 ? limit : undefined, q.get('continue') ?? undefined);
      if ('code' in page) return this.fail(res, page);
      const meta: Record<string, unknown> = { resourceVersion: String(page.rv) };
      if (page.continue) Object.assign(meta, { continue: page.continue, remainingItemCount: page.remaining });
      return writeList(res, `{"kind":"${def.kind}List","apiVersion":"${apiVersionOf(def)}","metadata":${JSON.stringify(meta)},"items":[`, page.entries);
    }
    if (method === 'DELETE') {
      if (name === undefined) return notAllowed();
      const e = this.store.delete(def, namespace, name);
      if ('code' in e) return this.fail(res, e);
      if (def.deleteReturnsObject) return this.send(res, 200, fullJson(def, e));
      const ok = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: def.group, kind: def.resource, uid: e.uid } };
      return this.send(res, 200, JSON.stringify(ok));
    }
    if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') return notAllowed();
    if ((method === 'POST') === (name !== undefined) || (def.namespaced && route.namespace === undefined)) return notAllowed();
    let obj: Record<string, unknown>;
    if (method === 'PATCH') {
      const cur = this.store.find(def, namespace, name!);
      if (!cur) return this.fail(res, notFound(def, name!));
      const patched = patch(req.headers['content-type'] ?? '', JSON.parse(fullJson(def, cur)), body!);
      if ('err' in patched) return this.fail(res, patched.err);
      obj = patched.obj;
    } else {
      const parsed = parseJson(body!);
      if ('err' in parsed) return this.fail(res, parsed.err);
      obj = parsed.obj;
    }
    const bad = checkBody(def, obj, namespace, name);
    if (bad) return this.fail(res, bad);
    const meta = { ...((obj.metadata ?? {}) as Record<string, unknown>) };
    if (def.namespaced) meta.namespace = namespace;
    if (method === 'POST') delete meta.resourceVersion;
    const e = this.store.write(def, { ...obj, metadata: meta }, method === 'POST' ? 'create' : 'update');
    if ('code' in e) return this.fail(res, e);
    return this.send(res, method === 'POST' ? 201 : 200, fullJson(def, e));
  }

  private filterOf(def: ResourceDef, namespace: string | undefined, q: URLSearchParams): Filter | KubeStatus {
    const labels = parseLabelSelector(q.get('labelSelector') ?? undefined);
    if (!labels.ok) return failure(400, labels.error);
    const fields = parseFieldSelector(q.get('fieldSelector') ?? undefined, def.fields);
    if (!fields.ok) return failure(400, fields.error);
    return { namespace, labels: labels.value, fields: fields.value };
  }

  private send(res: http.ServerResponse, code: number, json: string): void {
    if (res.headersSent) return void res.destroy();
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
    res.end(json);
  }

  private fail(res: http.ServerResponse, st: KubeStatus): void {
    this.send(res, st.code, JSON.stringify(st));
  }
}
