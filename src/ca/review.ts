// Bearer tokens checked by TokenReview: the API server says whose a token is and for which audience;
// caller.ts turns that into the caller's node. Positive answers are cached briefly (keyed by a hash, so
// no token is kept in memory) because every agent asks for many certificates at once and on every
// renewal; concurrent checks of one token share one review. The API refusing TokenReview (RBAC, 403)
// or being away is the CA's problem, not the caller's: UNAVAILABLE (retry), logged once, never fatal.
// The HTTP call itself is injected (kube.ts binds it to the client library), so this module stays light.
import { createHash } from 'node:crypto';
import { logger, type Logger } from '../log';
import { resolveCaller, type AccountRef, type CallerAuthenticator, type CallerResult, type PodLookup } from './caller';

const defaultLog = logger('ca.review');

/** POST a TokenReview of `token` for `audiences`; resolves with its `status` as answered. */
export type ReviewPost = (token: string, audiences: string[]) => Promise<unknown>;

export interface ReviewAuthenticatorOptions {
  readonly post: ReviewPost;
  readonly audience: string;
  readonly agent: AccountRef;
  readonly pods: PodLookup;
  /** How long a positive review is reused (ms, default 60 s). */
  readonly cacheMs?: number;
  /** Cached reviews at most (default 10 000; about one per agent pod). */
  readonly cacheMax?: number;
  /** A review that takes longer is given up (UNAVAILABLE), default 10 s. */
  readonly timeoutMs?: number;
  readonly now?: () => number;
  readonly log?: Pick<Logger, 'error' | 'warn' | 'info'>;
}

interface Cached {
  readonly status: unknown;
  readonly until: number;
}

/** HTTP status of a failed API call: ApiException has `code`, other errors may carry `statusCode`. */
export function httpStatusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

export class ReviewAuthenticator implements CallerAuthenticator {
  private readonly cache = new Map<string, Cached>();
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private refusedLogged = false;
  private lastFailure = '';
  private lastFailureAt = 0;
  /** Reviews sent to the API (for tests and logs). */
  reviews = 0;

  private readonly log: Pick<Logger, 'error' | 'warn' | 'info'>;

  constructor(private readonly opts: ReviewAuthenticatorOptions) {
    this.log = opts.log ?? defaultLog;
  }

  async authenticate(token: string): Promise<CallerResult> {
    const key = createHash('sha256').update(token, 'utf8').digest('hex');
    const now = (this.opts.now ?? Date.now)();
    let status: unknown;
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.until > now) {
      status = hit.status;
    } else {
      if (hit !== undefined) this.cache.delete(key);
      try {
        status = await this.review(key, token);
      } catch (err) {
        return { ok: false, code: 'UNAVAILABLE', reason: this.failure(err) };
      }
      if ((status as { authenticated?: unknown } | null)?.authenticated === true) this.remember(key, status, now);
    }
    return resolveCaller(status, { audience: this.opts.audience, agent: this.opts.agent, pods: this.opts.pods });
  }

  /** Drops every cached review (tests; or after the agents' ServiceAccount changed). */
  clear(): void {
    this.cache.clear();
  }

  private review(key: string, token: string): Promise<unknown> {
    let p = this.inFlight.get(key);
    if (p === undefined) {
      this.reviews++;
      const timeoutMs = this.opts.timeoutMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no TokenReview answer in ${timeoutMs} ms`)), timeoutMs);
        timer.unref();
      });
      p = Promise.race([this.opts.post(token, [this.opts.audience]), timeout]).finally(() => {
        clearTimeout(timer);
        this.inFlight.delete(key);
      });
      this.inFlight.set(key, p);
    }
    return p.then((status) => {
      if (this.refusedLogged) {
        this.refusedLogged = false;
        this.log.info('TokenReview allowed again');
      }
      return status;
    });
  }

  private remember(key: string, status: unknown, now: number): void {
    const max = this.opts.cacheMax ?? 10_000;
    if (this.cache.size >= max) {
      for (const [k, v] of this.cache) if (v.until <= now) this.cache.delete(k);
      // Still full: drop the oldest entries (Map keeps insertion order).
      for (const k of this.cache.keys()) {
        if (this.cache.size < max) break;
        this.cache.delete(k);
      }
    }
    this.cache.set(key, { status, until: now + (this.opts.cacheMs ?? 60_000) });
  }

  /** Logs an API failure (a 403 once until TokenReview works again; others when they change or every 30 s). */
  private failure(err: unknown): string {
    const status = httpStatusOf(err);
    if (status === 403) {
      if (!this.refusedLogged) {
        this.refusedLogged = true;
        this.log.error(
          { code: 'NM_E_KUBE_API', status },
          'the API refuses TokenReview (RBAC): the CA needs `create` on tokenreviews.authentication.k8s.io; agents using ServiceAccount tokens get UNAVAILABLE until then',
        );
      }
      return 'the CA may not use TokenReview (RBAC); retry later';
    }
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    const message = status !== undefined ? `HTTP ${status}` : err instanceof Error ? `${err.message}${cause}` : String(err);
    const now = (this.opts.now ?? Date.now)();
    if (message !== this.lastFailure || now - this.lastFailureAt > 30_000) {
      this.lastFailure = message;
      this.lastFailureAt = now;
      this.log.warn({ code: 'NM_E_KUBE_API', err: message }, 'TokenReview failed; callers get UNAVAILABLE and retry');
    }
    return 'the token could not be checked now (TokenReview failed); retry later';
  }
}
