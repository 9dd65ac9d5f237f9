// A proxy worker's copy of the JWKS. The main thread alone fetches them (identity/jwks.ts: once per
// URI, however many workers) and posts the keys after every fetch; a request that finds no keys (or an
// unknown kid) asks the main thread to fetch, and waits for its answer, bounded.
import type { JSONWebKeySet } from 'jose';

/** What a worker asks of a key source (JwksCache has the same two). */
export interface JwksSource {
  keys(uri: string): JSONWebKeySet | undefined;
  refresh(uri: string): Promise<void>;
}

export class JwksMirror implements JwksSource {
  private byUri = new Map<string, JSONWebKeySet>();
  private readonly waiting = new Map<string, (() => void)[]>();

  /** ASK posts the fetch request to the main thread; a wait past WAIT_MS ends with the keys held. */
  constructor(
    private readonly ask: (uri: string) => void,
    private readonly waitMs = 6_000,
  ) {}

  /** Everything held, as the main thread has it (a worker that starts). */
  setAll(all: Readonly<Record<string, JSONWebKeySet>>): void {
    this.byUri = new Map(Object.entries(all));
  }

  /** The main thread fetched URI: its keys now (undefined: none yet), and the requests waiting on it go on. */
  fetched(uri: string, keys: JSONWebKeySet | undefined): void {
    if (keys === undefined) this.byUri.delete(uri);
    else this.byUri.set(uri, keys);
    const w = this.waiting.get(uri);
    this.waiting.delete(uri);
    for (const done of w ?? []) done();
  }

  keys(uri: string): JSONWebKeySet | undefined {
    return this.byUri.get(uri);
  }

  refresh(uri: string): Promise<void> {
    return new Promise((resolve) => {
      const list = this.waiting.get(uri);
      const done = (): void => (clearTimeout(timer), resolve());
      // Unanswered: this request goes on with what is held, and a later one asks again.
      const timer = setTimeout(() => {
        const rest = (this.waiting.get(uri) ?? []).filter((d) => d !== done);
        if (rest.length > 0) this.waiting.set(uri, rest);
        else this.waiting.delete(uri);
        resolve();
      }, this.waitMs);
      timer.unref();
      if (list !== undefined) list.push(done);
      else {
        this.waiting.set(uri, [done]);
        this.ask(uri);
      }
    });
  }
}
