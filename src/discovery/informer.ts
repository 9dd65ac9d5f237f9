// One resource kept in step with the API server: the client library's ListWatch (list, then watch from
// the list's resourceVersion, re-list on 410 Gone) with bookmarks asked for, pages of 500 on list,
// objects trimmed before they are stored, and a restart with jittered backoff after any other error
// (ListWatch itself stops there). While disconnected the last known objects stay, so nothing is lost.
import { ListWatch, Watch, type KubeConfig } from '@kubernetes/client-node';
import { logger } from '../log';
import { ApiStatusError, getJson } from './kubeconfig';

const log = logger('discovery');

/** What ListWatch stores: the key fields it reads, plus our trimmed value (absent = skipped). */
export interface Holder<T> {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly resourceVersion: string };
  readonly value: T | undefined;
  readonly skip?: string;
}

export interface ResourceSpec<T> {
  /** Kind as written in logs and metrics (Pod, VirtualService, …). */
  readonly kind: string;
  /** Cluster-wide list/watch path, e.g. /api/v1/pods. */
  readonly path: string;
  /** Only the objects this field selector matches (e.g. metadata.name=x), on list and watch alike. */
  readonly fieldSelector?: string;
  /** A 404 (CRD not installed) or 403 (not granted) is normal: no objects, retried slowly. */
  readonly optional?: boolean;
  readonly trim: (raw: unknown) => { ok: T } | { skip: string };
}

export interface InformerEvents<T> {
  /** ADDED/MODIFIED with a usable object (also for every item of a (re-)list). */
  upsert(kind: string, key: string, value: T): void;
  remove(kind: string, key: string): void;
  /** An object that could not be used (the previous version, if any, stays). */
  skipped(kind: string, key: string, reason: string): void;
  /** The first complete list was applied (or the optional resource is absent). */
  synced(kind: string): void;
  /** Any event from the server (for the last-event timestamp). */
  activity(kind: string, type: string): void;
}

export interface InformerOptions {
  /** Backoff after errors: base and cap (ms); each wait is jittered to 50–150 %. */
  readonly backoffMs?: { readonly base: number; readonly max: number };
  /** How often an absent optional resource is looked for again (ms). */
  readonly absentRetryMs?: number;
  readonly pageSize?: number;
}

export function keyOf(m: { readonly name?: unknown; readonly namespace?: unknown } | undefined): string {
  const name = typeof m?.name === 'string' ? m.name : '';
  const ns = typeof m?.namespace === 'string' ? m.namespace : '';
  return ns ? `${ns}/${name}` : name;
}

export class Informer<T> {
  private lw: ListWatch<Holder<T>>;
  private stopped = false;
  private synced = false;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;
  private lastError = '';
  absent = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly spec: ResourceSpec<T>,
    private readonly events: InformerEvents<T>,
    private readonly opts: InformerOptions = {},
  ) {
    this.lw = this.makeListWatch();
  }

  /** A ListWatch with an empty cache; one that was replaced reports nothing more. */
  private makeListWatch(): ListWatch<Holder<T>> {
    const watch = new BookmarkWatch(
      this.kc,
      (type, obj) => this.fromWatch(type, obj),
      () => this.onWatchStart(),
      () => (this.failures = 0),
      this.spec.fieldSelector,
    );
    const lw = new ListWatch<Holder<T>>(this.spec.path, watch as unknown as Watch, () => this.list(), false);
    const upsert = (h: Holder<T>): void => {
      if (lw === this.lw) this.onUpsert(h);
    };
    lw.on('add', upsert);
    lw.on('update', upsert);
    lw.on('delete', (h) => {
      if (lw === this.lw) this.events.remove(this.spec.kind, keyOf(h.metadata));
    });
    lw.on('error', (err) => {
      if (lw === this.lw) this.onError(err);
    });
    return lw;
  }

  get kind(): string {
    return this.spec.kind;
  }

  get isSynced(): boolean {
    return this.synced;
  }

  start(): void {
    this.stopped = false;
    void this.lw.start().catch((e: unknown) => this.onError(e));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    void this.lw.stop();
  }

  private async list(): Promise<{ metadata: { resourceVersion: string }; items: Holder<T>[] }> {
    const items: Holder<T>[] = [];
    let resourceVersion = '';
    let cont = '';
    const limit = this.opts.pageSize ?? 500;
    do {
      const fs = this.spec.fieldSelector !== undefined ? `&fieldSelector=${encodeURIComponent(this.spec.fieldSelector)}` : '';
      const q = `?limit=${limit}${fs}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`;
      const page = (await getJson(this.kc, this.spec.path + q)) as { metadata?: { resourceVersion?: unknown; continue?: unknown }; items?: unknown };
      if (!resourceVersion && typeof page.metadata?.resourceVersion === 'string') resourceVersion = page.metadata.resourceVersion;
      cont = typeof page.metadata?.continue === 'string' ? page.metadata.continue : '';
      if (Array.isArray(page.items)) for (const raw of page.items) items.push(this.hold(raw));
    } while (cont);
    this.absent = false;
    this.failures = 0;
    this.events.activity(this.spec.kind, 'LIST');
    return { metadata: { resourceVersion }, items };
  }

  /**
   * Called by the watch wrapper right after ListWatch applied a list: the store is complete now. (Not a
   * sign the API is back: a watch from a known resourceVersion starts here whether or not it connects,
   * so the backoff is reset only by an answer: a list, or a watch that connected.)
   */
  private onWatchStart(): void {
    if (!this.synced) {
      this.synced = true;
      this.events.synced(this.spec.kind);
    }
  }

  private fromWatch(type: string, obj: unknown): unknown {
    this.events.activity(this.spec.kind, type);
    if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') return this.hold(obj);
    return obj;
  }

  private hold(raw: unknown): Holder<T> {
    const m = (raw as { metadata?: { name?: unknown; namespace?: unknown; resourceVersion?: unknown } } | null)?.metadata;
    const metadata = {
      name: typeof m?.name === 'string' ? m.name : '',
      ...(typeof m?.namespace === 'string' ? { namespace: m.namespace } : {}),
      resourceVersion: typeof m?.resourceVersion === 'string' ? m.resourceVersion : '',
    };
    let r: { ok: T } | { skip: string };
    try {
      r = this.spec.trim(raw);
    } catch (e) {
      r = { skip: `could not be read: ${(e as Error).message}` };
    }
    return 'ok' in r ? { metadata, value: r.ok } : { metadata, value: undefined, skip: r.skip };
  }

  private onUpsert(h: Holder<T>): void {
    const key = keyOf(h.metadata);
    if (h.value !== undefined) this.events.upsert(this.spec.kind, key, h.value);
    else this.events.skipped(this.spec.kind, key, h.skip ?? 'unusable object');
  }

  private onError(err: unknown): void {
    if (this.stopped) return;
    const status = err instanceof ApiStatusError ? err.statusCode : (err as { statusCode?: number; code?: unknown })?.statusCode;
    // 403 before anything was listed (RBAC never granted) means "none" too. A 403 on a resource already
    // listed keeps its objects: a transient authorization failure must not drop DENY or STRICT rules.
    if (this.spec.optional && (status === 404 || (status === 403 && !this.synced))) {
      if (!this.absent) log.info({ kind: this.spec.kind, status }, status === 404 ? 'resource not installed in this cluster (no CRD); looking again later' : 'not allowed to read this resource (RBAC); looking again later');
      this.absent = true;
      // An absent resource has no objects: drop any that a previous list gave, and the ListWatch's cache
      // and resourceVersion with them, so that when the resource is back (a CRD installed again, RBAC
      // granted again) a full list adds every object, also those whose resourceVersion did not change.
      for (const h of this.lw.list()) this.events.remove(this.spec.kind, keyOf(h.metadata));
      void this.lw.stop();
      this.lw = this.makeListWatch();
      this.failures = 0;
      this.onWatchStart();
      this.schedule(this.opts.absentRetryMs ?? 60_000);
      return;
    }
    this.failures++;
    const message = err instanceof Error ? err.message : String(err);
    if (message !== this.lastError || this.failures === 1) {
      log.warn({ code: 'NM_E_KUBE_API', kind: this.spec.kind, err: message, attempt: this.failures }, 'Kubernetes API watch failed; the last known state keeps serving, reconnecting');
      this.lastError = message;
    }
    const { base, max } = this.opts.backoffMs ?? { base: 250, max: 30_000 };
    const wait = Math.min(max, base * 2 ** Math.min(this.failures - 1, 16));
    this.schedule(wait * (0.5 + Math.random()));
  }

  private schedule(ms: number): void {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      if (!this.stopped) this.start();
    }, ms);
    this.retry.unref();
  }
}

/**
 * The library's Watch with `allowWatchBookmarks=true` added (ListWatch does not ask for bookmarks) and
 * each event's object passed through FROM before ListWatch stores it.
 */
class BookmarkWatch {
  private readonly inner: Watch;

  constructor(
    kc: KubeConfig,
    private readonly from: (type: string, obj: unknown) => unknown,
    private readonly onStart: () => void,
    private readonly onConnected: () => void,
    private readonly fieldSelector?: string,
  ) {
    this.inner = new Watch(kc);
    // The library drops a watch after 30 s without a byte; API servers send bookmarks about once a
    // minute, so a quiet resource would reconnect every half minute.
    (this.inner as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 150_000;
  }

  async watch(
    path: string,
    query: Record<string, unknown>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    this.onStart();
    // The library calls DONE before it returns when the request failed (no connection, not 200).
    let ended = false;
    let c: AbortController;
    try {
      c = await this.inner.watch(path, { ...query, allowWatchBookmarks: true, ...(this.fieldSelector !== undefined ? { fieldSelector: this.fieldSelector } : {}) }, (phase, obj, watchObj) => callback(phase, this.from(phase, obj), watchObj), (err) => {
        ended = true;
        done(err);
      });
    } catch (e) {
      // E.g. credentials that cannot be loaded: reported like any failure, so the informer retries
      // (thrown here it would be an unhandled rejection inside the library, and the watch dead).
      if (!ended) done(e);
      return new AbortController();
    }
    if (!ended) this.onConnected();
    return c;
  }
}
