// Watch streams of the Kubernetes API stand-in (see kubeapi.ts): a chunked 200 response carrying one JSON
// event per line, as the real server writes them. A watch resumes after its resourceVersion from the
// store's bounded history, or answers an ERROR event with a 410 Expired Status and ends when that version
// is too old; without a resourceVersion (or "0") it first sends every current object as ADDED.
import type { ServerResponse } from 'node:http';
import { apiVersionOf, failure, resourceKey, type KubeStatus, type ResourceDef } from './kubeapi-resources';
import { fullJson, matches, type EventType, type Filter, type Store, type StoreEvent } from './kubeapi-store';

interface Watcher {
  readonly def: ResourceDef;
  readonly filter: Filter;
  readonly res: ServerResponse;
  readonly path: string;
  readonly bookmarks: boolean;
}

export interface WatchParams {
  readonly path: string;
  readonly resourceVersion: string | undefined;
  readonly bookmarks: boolean;
  readonly timeoutSeconds: number | undefined;
}

/** A client that stops reading live events is cut off past this much buffered output (the server drops slow watchers too). */
const MAX_BUFFERED = 64 * 1024 * 1024;

/** What a watcher with filter `f` sees of a change: an object leaving its selection is DELETED for it. */
export function project(f: Filter, ev: StoreEvent): EventType | undefined {
  if (ev.type !== 'MODIFIED') return matches(f, ev.entry) ? ev.type : undefined;
  const now = matches(f, ev.entry);
  const was = matches(f, ev.prev!);
  return now && was ? 'MODIFIED' : now ? 'ADDED' : was ? 'DELETED' : undefined;
}

export class WatchHub {
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly ticker: NodeJS.Timeout;

  constructor(private readonly store: Store, bookmarkMs: number) {
    this.ticker = setInterval(() => this.bookmark(), bookmarkMs);
    this.ticker.unref();
  }

  /** Starts a watch on `res`, or returns the Status to answer instead (before any header is sent). */
  open(def: ResourceDef, filter: Filter, res: ServerResponse, p: WatchParams): KubeStatus | undefined {
    const rvText = p.resourceVersion;
    const fromNow = rvText === undefined || rvText === '' || rvText === '0';
    const rv = fromNow ? 0 : Number(rvText);
    if (!fromNow && (!/^\d+$/.test(rvText) || !Number.isSafeInteger(rv))) return failure(400, `invalid resource version: ${rvText}`);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    const w: Watcher = { def, filter, res, path: p.path, bookmarks: p.bookmarks };
    if (fromNow) {
      for (const e of this.store.select(def, filter)) this.send(w, 'ADDED', fullJson(def, e));
    } else {
      const past = this.store.since(def, rv);
      if (!Array.isArray(past)) {
        this.fail(w, `too old resource version: ${rv} (${past.tooOld})`);
        return undefined;
      }
      for (const ev of past) {
        const t = project(filter, ev);
        if (t) this.send(w, t, fullJson(def, ev.entry));
      }
    }
    if (res.destroyed) return undefined;
    const key = resourceKey(def);
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    set.add(w);
    const secs = p.timeoutSeconds;
    const timer = secs !== undefined && secs > 0 ? setTimeout(() => res.end(), Math.min(secs, 86_400) * 1000) : undefined;
    res.on('close', () => {
      if (timer) clearTimeout(timer);
      set.delete(w);
    });
    return undefined;
  }

  /** Fans a store change out to the watchers of its resource. */
  publish(def: ResourceDef, ev: StoreEvent): void {
    const set = this.watchers.get(resourceKey(def));
    if (!set || set.size === 0) return;
    let json: string | undefined;
    for (const w of set) {
      const t = project(w.filter, ev);
      if (!t) continue;
      this.send(w, t, (json ??= fullJson(def, ev.entry)));
      if (w.res.writableLength > MAX_BUFFERED) w.res.destroy();
    }
  }

  private send(w: Watcher, type: EventType | 'BOOKMARK', object: string): void {
    if (w.res.writableEnded || w.res.destroyed) return;
    w.res.write(`{"type":"${type}","object":${object}}\n`);
  }

  /** An ERROR event with a 410 Expired Status, then the end of the stream (the client must re-list). */
  private fail(w: Watcher, message: string): void {
    if (w.res.writableEnded || w.res.destroyed) return;
    w.res.end(`{"type":"ERROR","object":${JSON.stringify(failure(410, message, 'Expired'))}}\n`);
  }

  private bookmark(): void {
    const rv = String(this.store.currentRv());
    for (const set of this.watchers.values()) {
      for (const w of set) {
        if (!w.bookmarks) continue;
        this.send(w, 'BOOKMARK', JSON.stringify({ kind: w.def.kind, apiVersion: apiVersionOf(w.def), metadata: { resourceVersion: rv } }));
      }
    }
  }

  /** Ends every open watch with 410 Expired, naming `oldest` as the oldest version still served. */
  expireAll(oldest: number): void {
    for (const set of this.watchers.values()) {
      for (const w of set) {
        const rv = w.res.req.url ? new URL(w.res.req.url, 'http://x').searchParams.get('resourceVersion') ?? '0' : '0';
        this.fail(w, `too old resource version: ${rv} (${oldest})`);
      }
    }
  }

  /** Ends (cleanly) the watches `pred` picks, e.g. those of resources that stop being served. */
  endWhere(pred: (def: ResourceDef) => boolean): void {
    for (const set of this.watchers.values()) for (const w of set) if (pred(w.def)) w.res.end();
  }

  /** Open watches, all or those on one request path. */
  count(path?: string): number {
    let n = 0;
    for (const set of this.watchers.values()) for (const w of set) if (path === undefined || w.path === path) n++;
    return n;
  }

  stop(): void {
    clearInterval(this.ticker);
    this.watchers.clear();
  }
}
