// Follows the config on disk and reports each change once. Kubernetes updates a ConfigMap mount by
// renaming a new `..data` symlink into place, and editors save by renaming a temp file, so the
// directory (not the file) is watched; a content-hash poll backs it up where events are lost
// (network filesystems, watch errors, a path that does not exist yet).
// A file written in place (not renamed into place) is seen mid-write, so a change is reported only once
// the content has settled: unchanged over `settleMs`. A blank file is an unfinished write and is not
// reported at all. An I/O error (EMFILE, EACCES, EIO...) is not a config problem: it is logged as
// NM_E_CONFIG_IO, counted, and the read is retried with backoff; the last reported config stands.
import { watch, statSync, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { MeshError, isMeshError } from '../errors';
import { logger } from '../log';
import { formatIssues } from './issues';
import { buildConfig, type LoadResult } from './load';
import { Serial } from './serial';
import { EMPTY_FILE, hashSources, isBlank, readSources, type Sources } from './sources';
import { ioRetryMs, settleWait } from './settle';

export interface WatchOptions<T> {
  /** What each change is turned into before it is reported; default buildConfig (the whole config). */
  readonly build?: (sources: Sources) => T;
  /** Fallback poll of the content hash (ms); default 2000. */
  readonly pollMs?: number;
  /** Quiet time after a filesystem event before reading (ms), so a burst of events reads once; default 100. */
  readonly debounceMs?: number;
  /** A changed config is reported once its content has been the same for this long (ms); default 300. */
  readonly settleMs?: number;
  /** First retry after an I/O error (ms), doubling up to maxRetryMs; default 200. */
  readonly retryMs?: number;
  /** Longest wait between retries after I/O errors (ms); default 5000. */
  readonly maxRetryMs?: number;
  /** Told of each I/O error reading the config (for a metric); the read is retried. */
  readonly onReadError?: (e: MeshError) => void;
  /** Reads the config; a seam for tests (default readSources). */
  readonly read?: (path: string) => Promise<Sources>;
}

/** A changed file that keeps changing is given this many settle periods per read before trying later. */
const MAX_SETTLE_ROUNDS = 10;

const log = logger('config.watch');

export class ConfigWatcher<T = LoadResult> {
  private readonly pollMs: number;
  private readonly debounceMs: number;
  private readonly settleMs: number;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly read: (path: string) => Promise<Sources>;
  private readonly onReadError: ((e: MeshError) => void) | undefined;
  /** Consecutive I/O errors; 0 after a read that worked. */
  private ioFailures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The settle wait in progress, ended early by stop(). */
  private settleTimer: { timer: NodeJS.Timeout; done: () => void } | undefined;
  /** What was last skipped (blank or still changing), so that it is logged once. */
  private lastSkipped: string | undefined;
  private watcher: FSWatcher | undefined;
  private watchedDir: string | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private readonly reads = new Serial(() => this.readOnce(), () => this.running);
  private running = false;
  private lastFingerprint: string | undefined;
  private readonly build: (sources: Sources) => T;

  constructor(
    private readonly path: string,
    private readonly onResult: (r: T) => void,
    opts: WatchOptions<T> = {},
  ) {
    this.build = opts.build ?? (buildConfig as unknown as (sources: Sources) => T);
    this.pollMs = opts.pollMs ?? 2000;
    this.debounceMs = opts.debounceMs ?? 100;
    this.settleMs = opts.settleMs ?? 300;
    this.retryMs = opts.retryMs ?? 200;
    this.maxRetryMs = opts.maxRetryMs ?? 5000;
    this.read = opts.read ?? readSources;
    this.onReadError = opts.onReadError;
  }

  /** Starts watching; resolves once the current config has been loaded and reported. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.lastFingerprint = undefined;
    this.watchDirectory();
    this.pollTimer = setInterval(() => {
      // Re-attach after a watch error, or once a PATH that did not exist yet has appeared.
      if (this.watcher === undefined || this.watchedDir !== watchTarget(this.path)) this.watchDirectory();
      // While retrying after I/O errors the backoff sets the pace, not the poll.
      if (this.retryTimer === undefined) void this.refresh();
    }, this.pollMs);
    await this.refresh();
  }

  /**
   * Stops watching; nothing is reported after this returns, and no timer or watcher is left. (They are
   * not unref'd: a running watcher keeps the process alive, and a forgotten stop() shows up in tests.)
   */
  stop(): void {
    this.running = false;
    this.watcher?.close();
    this.watcher = undefined;
    this.watchedDir = undefined;
    clearInterval(this.pollTimer);
    clearTimeout(this.debounceTimer);
    clearTimeout(this.retryTimer);
    this.pollTimer = undefined;
    this.debounceTimer = undefined;
    this.retryTimer = undefined;
    if (this.settleTimer !== undefined) {
      clearTimeout(this.settleTimer.timer);
      this.settleTimer.done();
      this.settleTimer = undefined;
    }
    this.ioFailures = 0;
  }

  /** Reads now (e.g. on SIGHUP) and reports if the content changed. Concurrent calls share one read. */
  refresh(): Promise<void> {
    return this.reads.trigger();
  }

  private async readOnce(): Promise<void> {
    let sources = await this.tryRead();
    if (sources === undefined || !this.running) return;
    // Read problems are part of the fingerprint so that "file vanished" is reported too, once.
    let fingerprint = fingerprintOf(sources);
    if (fingerprint === this.lastFingerprint) return;
    // Changed: read again until two reads a settle period apart agree (a write may still be going on).
    let rounds = 0;
    for (let wait = settleWait(sources.files, Date.now(), this.settleMs); wait > 0; wait = this.settleMs) {
      if (++rounds > MAX_SETTLE_ROUNDS) {
        this.skip(fingerprint, { path: this.path, settleMs: this.settleMs }, 'the config is still being written; it is read again on the next change or poll');
        return;
      }
      await this.sleep(wait);
      const again = this.running ? await this.tryRead() : undefined;
      if (again === undefined || !this.running) return;
      const next = fingerprintOf(again);
      sources = again;
      if (next === fingerprint) break;
      fingerprint = next;
    }
    if (fingerprint === this.lastFingerprint) return;
    const blank = sources.files.filter(isBlank).map((f) => f.path);
    if (blank.length > 0) {
      this.skip(fingerprint, { path: this.path, files: blank }, `config not loaded: ${blank.join(', ')}: ${EMPTY_FILE}`);
      return;
    }
    this.lastFingerprint = fingerprint;
    this.lastSkipped = undefined;
    const result = this.build(sources);
    try {
      this.onResult(result);
    } catch (e) {
      log.error({ err: e, path: this.path }, 'config change handler threw');
    }
  }

  /** The sources, or undefined after an I/O error (logged, counted, and retried with backoff). */
  private async tryRead(): Promise<Sources | undefined> {
    try {
      const sources = await this.read(this.path);
      if (this.ioFailures > 0) log.info({ path: this.path, failures: this.ioFailures }, 'the config can be read again');
      this.ioFailures = 0;
      return sources;
    } catch (e) {
      if (!this.running) return undefined;
      const err = isMeshError(e, 'CONFIG_IO') ? e : asIoError(this.path, e);
      this.ioFailures += 1;
      const retryInMs = ioRetryMs(this.ioFailures, this.retryMs, this.maxRetryMs);
      log.warn(
        { code: err.code, err, path: this.path, failures: this.ioFailures, retryInMs },
        'reading the config failed (an I/O error, not a problem of the config); the last good config keeps serving',
      );
      try {
        this.onReadError?.(err);
      } catch (e2) {
        log.error({ err: e2 }, 'config read error handler threw');
      }
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        void this.refresh();
      }, retryInMs);
      return undefined;
    }
  }

  /** Logs why a change is not reported, once per content. */
  private skip(fingerprint: string, fields: Record<string, unknown>, message: string): void {
    if (this.lastSkipped === fingerprint) return;
    this.lastSkipped = fingerprint;
    log.warn(fields, message);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.settleTimer = undefined;
        resolve();
      }, ms);
      this.settleTimer = { timer, done: resolve };
    });
  }

  private watchDirectory(): void {
    this.watcher?.close();
    this.watcher = undefined;
    const dir = watchTarget(this.path);
    this.watchedDir = dir;
    try {
      const w = watch(dir, () => this.onEvent());
      w.on('error', (err) => {
        // E.g. the directory was removed; the poll keeps going and re-attaches when it is back.
        log.warn({ err, dir }, 'config watch failed; relying on polling');
        w.close();
        if (this.watcher === w) this.watcher = undefined;
      });
      this.watcher = w;
    } catch (err) {
      log.debug({ err, dir }, 'cannot watch the config directory yet; polling');
    }
  }

  private onEvent(): void {
    if (!this.running) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      void this.refresh();
    }, this.debounceMs);
  }
}

/** A reader's raw failure as the I/O error it is (readSources throws these already). */
function asIoError(path: string, e: unknown): MeshError {
  const errno = typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
  return new MeshError('CONFIG_IO', `${path}: ${e instanceof Error ? e.message : String(e)}`, { path, ...(errno !== undefined ? { errno } : {}) });
}

function fingerprintOf(sources: Sources): string {
  return `${hashSources(sources.files)}\n${formatIssues(sources.issues)}`;
}

/** PATH itself when it is a directory; otherwise its directory, where renames replacing it show up. */
function watchTarget(path: string): string {
  try {
    if (statSync(path).isDirectory()) return path;
  } catch {
    // Not there yet: watch where it will appear.
  }
  return dirname(path);
}
