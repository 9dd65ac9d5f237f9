// Kubernetes discovery: one informer per resource (Services, EndpointSlices, Pods, Namespaces, Nodes and,
// when their CRDs exist, the six Istio kinds) feeding one in-memory view. Changes are coalesced for a few
// milliseconds and reported once; the agent then composes and applies a new config. While the API is away
// the view keeps its last known state.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Parsed } from '../config/kinds/types';
import { formatIssues } from '../config/issues';
import type { Reserved } from '../config/reserved';
import { logger } from '../log';
import type { EventSink } from './events';
import { Informer, type InformerEvents, type InformerOptions, type ResourceSpec } from './informer';
import { ISTIO_KINDS, IstioObjects, istioSpec, type IstioObject } from './istio';
import { SecretWatcher } from './secrets';
import type { DiscoveryMetrics } from './metrics';
import type { KEndpointSlice, KKind, KNamespace, KNode, KObject, KPod, KService } from './objects';
import { trimObject } from './trim';
import { Translator, type Changes, type View } from './translate';

const log = logger('discovery');

/** The longest a change waits for the API to go quiet before it is composed. */
const MAX_COALESCE_MS = 200;

export interface DiscoveryOptions {
  readonly kc: KubeConfig;
  /** This node's name (spec.nodeName of its pods). */
  readonly node: string;
  readonly clusterDomain: string;
  readonly metrics: DiscoveryMetrics;
  /** Called (coalesced) after the view changed. */
  readonly onChange: () => void;
  readonly events?: EventSink;
  /** Quiet time before a change is reported (ms); default 5. */
  readonly coalesceMs?: number;
  /** Watch Istio's kinds too (default true; a cluster without the CRDs is fine either way). */
  readonly istio?: boolean;
  readonly informer?: InformerOptions;
  /** The agent's own addresses and ports (default: the default flags'). */
  readonly reserved?: Reserved;
}

const CORE: readonly { kind: KKind; path: string }[] = [
  { kind: 'Namespace', path: '/api/v1/namespaces' },
  { kind: 'Node', path: '/api/v1/nodes' },
  { kind: 'Pod', path: '/api/v1/pods' },
  { kind: 'Service', path: '/api/v1/services' },
  { kind: 'EndpointSlice', path: '/apis/discovery.k8s.io/v1/endpointslices' },
];

export class Discovery {
  readonly istio: IstioObjects;
  /** The Secrets DestinationRules name by credentialName (watched once a config naming them is applied). */
  readonly secrets: SecretWatcher;
  private readonly view = {
    services: new Map<string, KService>(),
    slices: new Map<string, KEndpointSlice>(),
    pods: new Map<string, KPod>(),
    namespaces: new Map<string, KNamespace>(),
    nodes: new Map<string, KNode>(),
  };
  private readonly informers: Informer<unknown>[] = [];
  private readonly translator: Translator;
  private timer: NodeJS.Timeout | undefined;
  private firstPending = 0;
  private readonly skippedLogged = new Map<string, string>();
  private readonly rejectedSaid = new Set<string>();
  /** Keys set or deleted since the last translation, so only those are looked at again (none: all). */
  private changes: Record<string, Set<string>> | undefined;
  /** Bumped on every change of the view: part of the composed config's hash. */
  generation = 0;

  constructor(private readonly opts: DiscoveryOptions) {
    this.istio = new IstioObjects(opts.reserved);
    this.secrets = new SecretWatcher(opts.kc, opts.informer !== undefined ? { informer: opts.informer } : {});
    this.translator = new Translator({ clusterDomain: opts.clusterDomain });
    const events: InformerEvents<unknown> = {
      upsert: (kind, key, value) => this.upsert(kind, key, value),
      remove: (kind, key) => this.remove(kind, key),
      skipped: (kind, key, reason) => this.skipped(kind, key, reason),
      synced: (kind) => this.onSynced(kind),
      activity: (kind, type) => {
        opts.metrics.events.inc({ kind, type });
        opts.metrics.lastEvent.set(Date.now() / 1000);
      },
    };
    for (const c of CORE) {
      const spec: ResourceSpec<KObject> = { kind: c.kind, path: c.path, trim: (raw) => trimObject(c.kind, raw) };
      this.informers.push(new Informer(opts.kc, spec, events, opts.informer) as Informer<unknown>);
    }
    if (opts.istio !== false) {
      for (const k of ISTIO_KINDS) this.informers.push(new Informer(opts.kc, istioSpec(k), events, opts.informer) as Informer<unknown>);
    }
  }

  get metrics(): DiscoveryMetrics {
    return this.opts.metrics;
  }

  start(): void {
    for (const i of this.informers) i.start();
  }

  stop(): void {
    clearTimeout(this.timer);
    for (const i of this.informers) i.stop();
    this.secrets.stop();
  }

  /** True once every resource has been listed in full at least once. */
  get synced(): boolean {
    return this.informers.every((i) => i.isSynced);
  }

  unsynced(): string[] {
    return this.informers.filter((i) => !i.isSynced).map((i) => i.kind);
  }

  /** The view as the translator takes it. */
  snapshot(): View {
    return this.view;
  }

  /** Services, workloads and nodes from the API, as documents for the composer. */
  translate(): readonly Parsed[] {
    const out = this.changes === undefined ? this.translator.translate(this.view) : this.translator.translate(this.view, this.changes as Changes);
    this.changes = {};
    for (const s of out.skipped) this.skipped(s.kind, s.key, s.reason);
    return [...out.services, ...out.workloads, ...out.nodes];
  }

  /** Meshed pods scheduled on this node (their cgroups go into the kernel's opt-in table). */
  meshedLocalPods(): KPod[] {
    return this.translator.meshedPodsOn(this.opts.node);
  }

  private mapFor(kind: string): Map<string, KObject> | undefined {
    switch (kind) {
      case 'Service':
        return this.view.services as Map<string, KObject>;
      case 'EndpointSlice':
        return this.view.slices as Map<string, KObject>;
      case 'Pod':
        return this.view.pods as Map<string, KObject>;
      case 'Namespace':
        return this.view.namespaces as Map<string, KObject>;
      case 'Node':
        return this.view.nodes as Map<string, KObject>;
      default:
        return undefined;
    }
  }

  private upsert(kind: string, key: string, value: unknown): void {
    const map = this.mapFor(kind);
    if (map) {
      map.set(key, value as KObject);
      this.noteChange(kind, key);
      this.opts.metrics.objects.set({ kind }, map.size);
    } else {
      const o = value as IstioObject;
      const rejected = this.istio.upsert(o);
      if (rejected) this.reject(o, formatApiIssues(rejected.issues), 'Invalid', this.istio.object(`${o.kind} ${o.namespace}/${o.name}`) !== undefined);
    }
    this.changed();
  }

  private remove(kind: string, key: string): void {
    const map = this.mapFor(kind);
    if (map) {
      map.delete(key);
      this.noteChange(kind, key);
      this.opts.metrics.objects.set({ kind }, map.size);
    } else this.istio.remove(kind, key);
    this.changed();
  }

  private noteChange(kind: string, key: string): void {
    if (this.changes === undefined) return;
    let set = this.changes[kind];
    if (set === undefined) this.changes[kind] = set = new Set();
    set.add(key);
  }

  /**
   * An unusable object: named in the log once per reason and counted. A Kubernetes object whose new
   * version cannot be used leaves the view (a Service turned ExternalName no longer holds its ClusterIP,
   * which may go to another Service); an Istio object keeps its previous valid version (istio.ts).
   */
  private skipped(kind: string, key: string, reason: string): void {
    const map = this.mapFor(kind);
    if (map?.delete(key)) {
      this.noteChange(kind, key);
      this.opts.metrics.objects.set({ kind }, map.size);
      this.changed();
    }
    const id = `${kind} ${key}`;
    if (this.skippedLogged.get(id) === reason) return;
    if (this.skippedLogged.size > 10_000) this.skippedLogged.clear();
    this.skippedLogged.set(id, reason);
    this.opts.metrics.skipped.inc({ kind });
    log.warn({ code: 'NM_E_KUBE_OBJECT', kind, object: key, reason }, `${kind} ${key} skipped: ${reason}`);
  }

  /** An Istio object that cannot apply: log line, metric and a Kubernetes Event on the object. */
  reject(o: IstioObject, message: string, reason: 'Invalid' | 'Conflict', fallback: boolean): void {
    // A conflict is found again by every composition while it lasts: said once per object version.
    const once = `${o.kind} ${o.namespace}/${o.name} ${o.resourceVersion} ${reason}`;
    if (this.rejectedSaid.has(once)) return;
    if (this.rejectedSaid.size > 10_000) this.rejectedSaid.clear();
    this.rejectedSaid.add(once);
    this.opts.metrics.rejected.inc({ kind: o.kind });
    const then = fallback ? 'its previous valid version keeps applying' : 'it does not apply until it is fixed';
    log.error({ code: 'NM_E_KUBE_REJECTED', kind: o.kind, object: `${o.namespace}/${o.name}`, resourceVersion: o.resourceVersion }, `${o.kind} ${o.namespace}/${o.name} rejected, ${then}:\n${message}`);
    this.opts.events?.warn(o, reason === 'Invalid' ? 'NodemeshInvalid' : 'NodemeshConflict', `nodemesh rejected this ${o.kind}; ${then}: ${message}`);
  }

  private onSynced(kind: string): void {
    log.info({ kind }, 'listed');
    if (this.synced) {
      this.opts.metrics.synced.set(1);
      log.info('discovery synced');
    }
    this.changed();
  }

  /**
   * Reported once the API has been quiet for coalesceMs (each event restarts the wait), at most
   * MAX_COALESCE_MS after the first: a burst that arrives in many socket reads (a watch stream drained
   * after a long composition) becomes one composition, not one per read.
   */
  private changed(): void {
    this.generation++;
    const now = Date.now();
    if (this.timer === undefined) this.firstPending = now;
    else clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.opts.coalesceMs ?? 5, this.firstPending + MAX_COALESCE_MS - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.opts.onChange();
    }, wait);
  }
}

/** API object issues read without the file/document prefix the ConfigMap's carry. */
export function formatApiIssues(issues: Parameters<typeof formatIssues>[0]): string {
  return issues.map((i) => `${i.field ? `${i.field}: ` : ''}${i.message}`).join('; ');
}
