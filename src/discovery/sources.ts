// Where the agent's mesh view comes from: the ConfigMap (a file or directory, watched) and, in a cluster,
// Kubernetes discovery. Every change of either is composed into one config (compose.ts) and handed to the
// agent to apply; the pods of this node that opted in go to the kernel's opt-in table. One composition
// runs at a time; changes that arrive meanwhile are folded into the next.
import { formatIssues } from '../config/issues';
import { parseSources, type LoadResult, type ParsedConfig } from '../config/load';
import type { Reserved } from '../config/reserved';
import type { MeshConfig } from '../config/model';
import type { MeshError } from '../errors';
import { Serial } from '../config/serial';
import { ConfigWatcher } from '../config/watch';
import { logger } from '../log';
import { compose, type Composed } from './compose';
import type { Discovery } from './discovery';
import { API_FILE } from './istio';
import { credentialRefs } from './credentialrefs';
import type { KPod } from './objects';

const log = logger('sources');

export interface SourcesHooks {
  /** Applies a composed config; false when it could not be applied (the previous one stays). */
  apply(result: LoadResult, partial: boolean): Promise<boolean>;
  /** The outcome of reading a changed ConfigMap (for the reload metrics). */
  reloaded(ok: boolean): void;
  /** The ConfigMap could not be read (an I/O error, retried; not a config problem). */
  readFailed?(e: MeshError): void;
  /**
   * Meshed pods of this node → their cgroup ids for the kernel (undefined: no opt-in, capture all).
   * Returns the pods whose cgroup was not found yet (looked for again shortly).
   */
  syncMeshed(pods: readonly KPod[] | undefined): readonly KPod[];
}

export interface MeshSourcesOptions {
  /** The ConfigMap path; undefined when the agent runs from the API alone. */
  readonly config: string | undefined;
  readonly discovery: Discovery | undefined;
  readonly hooks: SourcesHooks;
  /** How often pods whose cgroup was not there yet are looked for again (ms). */
  readonly cgroupRetryMs?: number;
  /** The agent's own addresses and ports, which the ConfigMap must not name (default: the default flags). */
  readonly reserved?: Reserved;
  /**
   * Completes a composed config before it is applied (ServiceEntry DNS names → their addresses); a new
   * answer calls changed(), so it is applied as any other change.
   */
  readonly complete?: (config: MeshConfig) => MeshConfig;
}

export class MeshSources {
  private watcher: ConfigWatcher<ParsedConfig> | undefined;
  private configMap: ParsedConfig | undefined;
  private lastGood: ParsedConfig | undefined;
  /** The ConfigMap read that has not been composed yet (its outcome sets the reload metric). */
  private freshConfigMap = false;
  private waitingSaid = false;
  private readonly compositions = new Serial(() => this.composeOnce(), () => !this.stopped);
  private appliedHash: string | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: MeshSourcesOptions) {}

  /** Resolves after the ConfigMap's first read was composed (the API may still be syncing). */
  async start(): Promise<void> {
    if (this.opts.config !== undefined) {
      const reserved = this.opts.reserved;
      this.watcher = new ConfigWatcher<ParsedConfig>(this.opts.config, (p) => this.onConfigMap(p), {
        // With discovery, DestinationRule tls.credentialName names a Secret it reads (secrets.ts).
        build: (s) => parseSources(s, { ...(reserved !== undefined ? { reserved } : {}), secrets: this.opts.discovery !== undefined }),
        onReadError: (e) => this.opts.hooks.readFailed?.(e),
      });
      await this.watcher.start();
    }
    this.opts.discovery?.start();
    await this.recompose();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.watcher?.stop();
    this.opts.discovery?.stop();
  }

  /** Readiness reasons from the sources. */
  pending(): string[] {
    const d = this.opts.discovery;
    return d && !d.synced ? [`discovery not synced (${d.unsynced().join(', ')})`] : [];
  }

  /** Called by discovery after a change of the view. */
  changed(): void {
    void this.recompose();
  }

  private onConfigMap(p: ParsedConfig): void {
    this.configMap = p;
    this.freshConfigMap = true;
    void this.recompose();
  }

  /** One composition at a time; a request during one runs once more after it. */
  recompose(): Promise<void> {
    return this.compositions.trigger();
  }

  private async composeOnce(): Promise<void> {
    if (this.stopped) return;
    const d = this.opts.discovery;
    let fresh = this.freshConfigMap;
    this.freshConfigMap = false;
    // Until the first full list, discovery's view is partial: the ConfigMap alone is served.
    const live = d !== undefined && d.synced;
    const composed = compose({
      configMap: this.configMap,
      lastGoodConfigMap: this.lastGood,
      istio: live ? d.istio.candidates() : new Map(),
      fallback: (key) => d?.istio.fallback(key),
      discovered: live ? d.translate() : [],
      generation: live ? d.generation : 0,
    });
    const complete = this.opts.complete;
    const c: Composed = complete && composed.result.ok ? { ...composed, result: { ...composed.result, config: complete(composed.result.config) } } : composed;
    if (fresh && c.configMapRefused !== undefined && d !== undefined && !d.synced && this.configMap?.issues.length === 0) {
      // It may name Services that discovery has not listed yet: judged again once it has synced.
      if (!this.waitingSaid) log.info('the ConfigMap does not fit the view yet; it is judged again once Kubernetes discovery has synced');
      this.waitingSaid = true;
      this.freshConfigMap = true;
      fresh = false;
    }
    this.report(c, fresh);
    let applied = false;
    // Without discovery a ConfigMap that was never accepted leaves nothing to serve: no config at all
    // (readiness says so) rather than an empty mesh.
    const nothing = d === undefined && c.configMap === undefined;
    if (c.result.ok && !nothing && c.result.config.source.hash !== this.appliedHash) {
      // Before discovery's first list the view is partial: the kernel keeps what it holds beyond it.
      applied = await this.opts.hooks.apply(c.result, d !== undefined && !live);
      if (applied) {
        this.appliedHash = c.result.config.source.hash;
        // Once per applied config: what it holds that the agent does not serve (gateway parts, ignored duplicates).
        if (c.result.warnings.length > 0) log.warn({ warnings: c.result.warnings }, `config applied with warnings:\n${formatIssues(c.result.warnings)}`);
        this.lastGood = c.configMap;
        d?.istio.markApplied(c.istioUsed);
        // Only the Secrets the applied rules name are read (and watched) from now on.
        d?.secrets.want(credentialRefs(c.result.config));
      }
    } else if (!c.result.ok) {
      log.error({ code: 'NM_E_CONFIG_SCHEMA', issues: c.result.issues }, `config rejected, the previous config keeps serving:\n${formatIssues(c.result.issues)}`);
    }
    if (fresh) this.opts.hooks.reloaded(c.configMapRefused === undefined && (c.result.ok || applied));
    // Without discovery nothing opts in: everything below --cgroup is captured. With it, the kernel's
    // table is left as it is until the first full list (a restarted agent keeps its predecessor's).
    if (d === undefined) this.syncMeshed(undefined);
    else if (live) this.syncMeshed(d.meshedLocalPods());
  }

  private report(c: Composed, fresh: boolean): void {
    if (fresh && c.configMapRefused !== undefined) {
      const waiting = this.opts.discovery && !this.opts.discovery.synced ? ' (Kubernetes discovery has not synced yet: hosts of Services may be missing)' : '';
      log.error({ code: 'NM_E_CONFIG_SCHEMA', issues: c.configMapRefused }, `config rejected, the previous config keeps serving${waiting}:\n${formatIssues(c.configMapRefused)}`);
    }
    for (const x of c.excluded) {
      const text = formatIssues(x.issues);
      if (x.source === 'api') {
        const o = this.opts.discovery?.istio.object(x.key);
        if (o) this.opts.discovery?.reject(o, x.issues.map((i) => `${i.field ? `${i.field}: ` : ''}${i.message}`).join('; '), 'Conflict', x.fellBack);
      } else {
        log.warn({ code: 'NM_E_CONFIG_CONFLICT', source: x.source, object: x.key }, `${x.key} left out: it does not fit the rest of the mesh view:\n${text.replaceAll(API_FILE, 'api')}`);
      }
    }
  }

  private syncMeshed(pods: readonly KPod[] | undefined): void {
    const pending = this.opts.hooks.syncMeshed(pods);
    clearTimeout(this.retry);
    if (pending.length > 0 && !this.stopped) {
      this.retry = setTimeout(() => {
        const d = this.opts.discovery;
        if (d?.synced) this.syncMeshed(d.meshedLocalPods());
      }, this.opts.cgroupRetryMs ?? 500);
      this.retry.unref();
    }
  }
}
