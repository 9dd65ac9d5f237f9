// Follows the config on disk and reports each change once. Kubernetes updates a ConfigMap mount by
// renaming a new `..data` symlink into place, and editors save by renaming a temp file, so the
// directory (not the file) is watched; a content-hash poll backs it up where events are lost
// (network filesystems, watch errors, a path that does not exist yet).
import { watch, statSync, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { logger } from '../log';
import { formatIssues } from './issues';
import { buildConfig, type LoadResult } from './load';
import { Serial } from './serial';
import { hashSources, readSources, type Sources } from './sources';

export interface WatchOptions<T> {
  /** What each change is turned into before it is reported; default buildConfig (the whole config). */
  readonly build?: (sources: Sources) => T;
  /** Fallback poll of the content hash (ms); default 2000. */
  readonly pollMs?: number;
  /** Quiet time after a filesystem event before reading (ms), so a burst of events reads once; default 100. */
  readonly debounceMs?: number;
}

const log = logger('config.watch');

export class ConfigWatcher<T = LoadResult> {
  private readonly pollMs: number;
  private readonly debounceMs: number;
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
      void this.refresh();
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
    this.pollTimer = undefined;
    this.debounceTimer = undefined;
  }

  /** Reads now (e.g. on SIGHUP) and reports if the content changed. Concurrent calls share one read. */
  refresh(): Promise<void> {
    return this.reads.trigger();
  }

  private async readOnce(): Promise<void> {
    let sources: Sources;
    try {
      sources = await readSources(this.path);
    } catch (e) {
      log.error({ err: e, path: this.path }, 'reading the config failed');
      return;
    }
    if (!this.running) return;
    // Read problems are part of the fingerprint so that "file vanished" is reported too, once.
    const fingerprint = `${hashSources(sources.files)}\n${formatIssues(sources.issues)}`;
    if (fingerprint === this.lastFingerprint) return;
    this.lastFingerprint = fingerprint;
    const result = this.build(sources);
    try {
      this.onResult(result);
    } catch (e) {
      log.error({ err: e, path: this.path }, 'config change handler threw');
    }
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

/** PATH itself when it is a directory; otherwise its directory, where renames replacing it show up. */
function watchTarget(path: string): string {
  try {
    if (statSync(path).isDirectory()) return path;
  } catch {
    // Not there yet: watch where it will appear.
  }
  return dirname(path);
}
