// The JWKS of each RequestAuthentication jwksUri, fetched over HTTP(S) and kept: fetched when a config
// first names the URI, again every refresh period, and on demand when a token names a key the set lacks
// (at most once per minimum interval, so a stream of bad kids cannot hammer the issuer). A failed fetch is
// logged and counted and keeps the last good keys; with none yet, tokens of that issuer do not verify.
import type { JSONWebKeySet } from 'jose';
import { CATALOG } from '../errors';
import { unusableKeys } from './jwks-keys';
import { logger } from '../log';

const log = logger('jwks');

export interface JwksCacheOptions {
  /** Time between scheduled fetches of each URI (Istio's default: 20 minutes). */
  readonly refreshMs?: number;
  /** Least time between two fetches of one URI asked for by requests (unknown kid, no keys). */
  readonly minRefetchMs?: number;
  /** Per fetch, unless the URI's rule sets its own `timeout` (Istio's default: 5 s). */
  readonly timeoutMs?: number;
  /** Called on each failed fetch (the agent counts nodemesh_jwks_fetch_failures_total{issuer}). */
  readonly onFailure?: (issuer: string, uri: string, reason: string) => void;
  /**
   * Called after every fetch of URI, and when a refresh is answered without one (made just now, or a URI
   * no config names), with the keys then held: the agent posts them to its workers.
   */
  readonly onFetched?: (uri: string, keys: JSONWebKeySet | undefined) => void;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
}

interface Entry {
  readonly uri: string;
  issuer: string;
  /** The rule's own fetch timeout; undefined = the cache's. */
  timeoutMs: number | undefined;
  keys: JSONWebKeySet | undefined;
  /** The unusable keys of the last set fetched, as logged (logged again only when they change). */
  unusable: string;
  lastFetch: number;
  inFlight: Promise<void> | undefined;
  timer: NodeJS.Timeout | undefined;
}

export class JwksCache {
  private readonly entries = new Map<string, Entry>();
  private readonly refreshMs: number;
  private readonly minRefetchMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly opts: JwksCacheOptions = {}) {
    this.refreshMs = opts.refreshMs ?? 20 * 60_000;
    this.minRefetchMs = opts.minRefetchMs ?? 5_000;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.now = opts.now ?? (() => performance.now());
  }

  /**
   * The URIs a config names (with their issuers and fetch timeouts): new ones are fetched now, gone ones
   * dropped. A URI named by several rules takes the longest timeout among them.
   */
  sync(wanted: readonly { readonly uri: string; readonly issuer: string; readonly timeoutMs?: number | undefined }[]): void {
    const keep = new Set(wanted.map((w) => w.uri));
    const timeouts = new Map<string, number>();
    for (const w of wanted) if (w.timeoutMs !== undefined) timeouts.set(w.uri, Math.max(w.timeoutMs, timeouts.get(w.uri) ?? 0));
    for (const [uri, e] of this.entries) {
      if (keep.has(uri)) continue;
      clearTimeout(e.timer);
      this.entries.delete(uri);
    }
    for (const w of wanted) {
      const e = this.entries.get(w.uri);
      if (e !== undefined) {
        e.issuer = w.issuer;
        e.timeoutMs = timeouts.get(w.uri);
        continue;
      }
      const n: Entry = { uri: w.uri, issuer: w.issuer, timeoutMs: timeouts.get(w.uri), keys: undefined, unusable: '', lastFetch: -Infinity, inFlight: undefined, timer: undefined };
      this.entries.set(w.uri, n);
      void this.fetchNow(n);
    }
  }

  /** Every URI's last good keys (those with none yet left out). */
  all(): Record<string, JSONWebKeySet> {
    const out: Record<string, JSONWebKeySet> = {};
    for (const [uri, e] of this.entries) if (e.keys !== undefined) out[uri] = e.keys;
    return out;
  }

  /** The last good keys of URI; undefined before the first successful fetch. */
  keys(uri: string): JSONWebKeySet | undefined {
    return this.entries.get(uri)?.keys;
  }

  /** A fetch asked for by a request: joins one in flight, else fetches unless one was made just now. */
  refresh(uri: string): Promise<void> {
    const e = this.entries.get(uri);
    if (e !== undefined && e.inFlight !== undefined) return e.inFlight;
    if (e === undefined || this.now() - e.lastFetch < this.minRefetchMs) {
      this.opts.onFetched?.(uri, e?.keys);
      return Promise.resolve();
    }
    return this.fetchNow(e);
  }

  /** Resolves once every URI had its first fetch (done or failed). */
  async settled(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.inFlight));
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.entries.clear();
  }

  private fetchNow(e: Entry): Promise<void> {
    clearTimeout(e.timer);
    e.lastFetch = this.now();
    e.inFlight = this.load(e).finally(() => {
      e.inFlight = undefined;
      if (this.closed || this.entries.get(e.uri) !== e) return;
      this.opts.onFetched?.(e.uri, e.keys);
      // Without keys yet, try again sooner than the refresh period.
      const next = e.keys === undefined ? Math.min(this.refreshMs, Math.max(this.minRefetchMs, 1_000)) : this.refreshMs;
      e.timer = setTimeout(() => void this.fetchNow(e), next);
      e.timer.unref();
    });
    return e.inFlight;
  }

  private async load(e: Entry): Promise<void> {
    const f = this.opts.fetch ?? fetch;
    try {
      const res = await f(e.uri, { signal: AbortSignal.timeout(e.timeoutMs ?? this.timeoutMs), headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as unknown;
      const keys = (body as { keys?: unknown } | null)?.keys;
      if (!Array.isArray(keys) || keys.length === 0) throw new Error('the answer is not a JSON Web Key Set with keys');
      // Keys that cannot verify tokens are named (once per set that has them) and never tried; a set
      // with none that can is a failed fetch.
      const bad = unusableKeys(keys);
      const why = bad.map((b) => `${b.key} ${b.problem}`);
      if (bad.length === keys.length) throw new Error(`no key of the set can verify tokens: ${why.join('; ')}`);
      if (this.entries.get(e.uri) !== e) return;
      const said = why.join('\n');
      if (said !== '' && said !== e.unusable) {
        for (const b of bad) log.warn({ code: CATALOG.JWKS_KEY_UNUSABLE.code, issuer: e.issuer, uri: e.uri, key: b.key, reason: b.problem }, `${CATALOG.JWKS_KEY_UNUSABLE.message}: ${b.key} ${b.problem}`);
      }
      e.unusable = said;
      e.keys = body as JSONWebKeySet;
    } catch (err) {
      const reason = (err as Error).message;
      log.warn({ code: CATALOG.JWKS_FETCH.code, issuer: e.issuer, uri: e.uri, err: reason, keptKeys: e.keys !== undefined }, fetchFailedMessage(e.keys !== undefined));
      this.opts.onFailure?.(e.issuer, e.uri, reason);
    }
  }
}

/** The log line of a failed fetch: what serves the issuer's tokens now (KEPT: the last good keys). */
export function fetchFailedMessage(kept: boolean): string {
  return `${CATALOG.JWKS_FETCH.message}; ${kept ? 'the last good keys stay in use' : 'no keys were fetched yet: tokens of this issuer do not verify (401) until a fetch succeeds'}`;
}
