// The Kubernetes API stand-in's object store (no I/O; see kubeapi.ts): objects by resource, namespace and
// name, one global resourceVersion counter, a bounded event history per resource (what a watch can resume
// from), and consistent snapshots behind `limit`/`continue` pages.
//
// Objects are kept as their JSON text (without kind/apiVersion, the form list items take) plus the few
// fields selectors read. A stored object can then never be changed by a caller that keeps a reference, a
// list is a string join, and 100k pods cost little more than their JSON.
import { randomUUID, randomBytes } from 'node:crypto';
import { apiVersionOf, failure, notFound, qualified, resourceKey, type KubeStatus, type ResourceDef } from './kubeapi-resources';
import { fieldValue, matchFields, matchLabels, type FieldRequirement, type Requirement } from './kubeapi-select';

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
};

export interface Entry {
  readonly name: string;
  /** '' for cluster-scoped objects. */
  readonly namespace: string;
  readonly uid: string;
  readonly rv: number;
  readonly generation: number;
  readonly created: string;
  readonly labels: Readonly<Record<string, string>> | undefined;
  /** The values of the resource's selectable fields (ResourceDef.fields). */
  readonly fields: Readonly<Record<string, string>>;
  /** Hash of everything but metadata and status (a change bumps metadata.generation); computed on first replace. */
  readonly specHash: number | undefined;
  /** The object's JSON without kind and apiVersion (a list item). */
  readonly item: string;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  readonly type: EventType;
  readonly rv: number;
  /** For DELETED: the object as it was, carrying the deletion's resourceVersion (as the server sends it). */
  readonly entry: Entry;
  /** For MODIFIED: the previous version (a selector may have matched it and no longer match). */
  readonly prev?: Entry;
}

export interface Filter {
  readonly namespace?: string;
  readonly labels: readonly Requirement[];
  readonly fields: readonly FieldRequirement[];
}

export function matches(f: Filter, e: Entry): boolean {
  if (f.namespace !== undefined && e.namespace !== f.namespace) return false;
  if (f.labels.length > 0 && !matchLabels(f.labels, e.labels)) return false;
  if (f.fields.length === 0) return true;
  return matchFields(f.fields, (p) => (p === 'metadata.name' ? e.name : p === 'metadata.namespace' ? e.namespace : e.fields[p] ?? ''));
}

/** The full JSON of a stored object: kind and apiVersion first, as the server writes them. */
export const fullJson = (def: ResourceDef, e: Entry): string => `{"kind":"${def.kind}","apiVersion":"${apiVersionOf(def)}",${e.item.slice(1)}`;

interface Table {
  readonly def: ResourceDef;
  readonly byNs: Map<string, Map<string, Entry>>;
  history: StoreEvent[];
  /** A watch may resume from any resourceVersion >= this; older ones are "too old" (410). */
  oldestServable: number;
}

interface Snapshot {
  readonly key: string;
  readonly rv: number;
  readonly entries: readonly Entry[];
}

export interface Page {
  readonly rv: number;
  readonly entries: readonly Entry[];
  readonly continue?: string;
  readonly remaining?: number;
}

const MAX_SNAPSHOTS = 64;

/** FNV-1a of the JSON of an object without kind, apiVersion, metadata and status. */
function specHashOf(o: Record<string, unknown>): number {
  const { kind: _k, apiVersion: _a, metadata: _m, status: _s, ...spec } = o;
  const s = JSON.stringify(spec);
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class Store {
  private rv = 1;
  /** The last compaction: no resource can be watched from before it. */
  private compactedAt = 0;
  private readonly tables = new Map<string, Table>();
  private readonly snapshots = new Map<string, Snapshot>();

  /** Called for every change, after the store holds it (the watch hub fans it out). */
  onEvent: (def: ResourceDef, ev: StoreEvent) => void = () => {};

  constructor(private readonly historySize: number) {}

  private stamp = { second: -1, text: '' };

  /** creationTimestamp (RFC 3339, seconds), formatted once per second: bulk loads create 100k objects. */
  private now(): string {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.stamp.second) this.stamp = { second, text: new Date(second * 1000).toISOString().replace('.000Z', 'Z') };
    return this.stamp.text;
  }

  currentRv(): number {
    return this.rv;
  }

  private table(def: ResourceDef): Table {
    const key = resourceKey(def);
    let t = this.tables.get(key);
    if (!t) {
      t = { def, byNs: new Map(), history: [], oldestServable: this.compactedAt };
      this.tables.set(key, t);
    }
    return t;
  }

  find(def: ResourceDef, namespace: string, name: string): Entry | undefined {
    return this.table(def).byNs.get(def.namespaced ? namespace : '')?.get(name);
  }

  /**
   * Creates or replaces. `mode` create refuses an existing object (409), update a missing one (404) or a
   * stale metadata.resourceVersion (409); apply does either, unconditionally (and keeps a given uid on create).
   */
  write(def: ResourceDef, input: KubeObject, mode: 'create' | 'update' | 'apply'): Entry | KubeStatus {
    const meta = input.metadata;
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return failure(422, `${def.kind} is invalid: metadata: Required value`, 'Invalid');
    let name = meta.name;
    if ((name === undefined || name === '') && typeof meta.generateName === 'string' && mode !== 'update') {
      name = meta.generateName + randomBytes(4).toString('hex').slice(0, 5);
    }
    if (typeof name !== 'string' || name === '') return failure(422, `${def.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, 'Invalid');
    const namespace = def.namespaced ? (typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default') : '';
    const t = this.table(def);
    const prev = t.byNs.get(namespace)?.get(name);
    if (mode === 'create' && prev) {
      return failure(409, `${qualified(def)} "${name}" already exists`, 'AlreadyExists', { name, group: def.group, kind: def.resource });
    }
    if (mode === 'update') {
      if (!prev) return notFound(def, name);
      if (meta.resourceVersion !== undefined && meta.resourceVersion !== '' && meta.resourceVersion !== String(prev.rv)) {
        return failure(409, `Operation cannot be fulfilled on ${qualified(def)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, 'Conflict', { name, group: def.group, kind: def.resource });
      }
    }
    const { kind: _k, apiVersion: _a, metadata: _m, status, ...spec } = input;
    // Bulk loads are mostly creates: the spec is hashed only when an object is replaced.
    const specHash = prev ? specHashOf(spec) : undefined;
    const rv = ++this.rv;
    const generation = prev ? ((prev.specHash ?? specHashOf(JSON.parse(prev.item))) === specHash ? prev.generation : prev.generation + 1) : 1;
    // Tests may choose a new object's uid through apply() (a pod's cgroup path holds it); the API assigns it.
    const uid = prev?.uid ?? (mode === 'apply' && typeof meta.uid === 'string' && meta.uid !== '' ? meta.uid : randomUUID());
    const created = prev?.created ?? this.now();
    const metadata: Record<string, unknown> = { ...meta, name, namespace, uid, resourceVersion: String(rv), generation, creationTimestamp: created };
    if (!namespace) delete metadata.namespace;
    const obj = { metadata, ...spec, ...(status !== undefined ? { status } : {}) };
    let labels = meta.labels !== null && typeof meta.labels === 'object' ? { ...meta.labels } : undefined;
    if (def.kind === 'Namespace') {
      // The server labels every namespace with its name (selectors can then pick namespaces by name).
      labels = { ...labels, 'kubernetes.io/metadata.name': name };
      metadata.labels = labels;
    }
    const fields: Record<string, string> = {};
    for (const f of def.fields) fields[f] = fieldValue(obj, f);
    const entry: Entry = { name, namespace, uid, rv, generation, created, labels, fields, specHash, item: JSON.stringify(obj) };
    let ns = t.byNs.get(namespace);
    if (!ns) t.byNs.set(namespace, (ns = new Map()));
    ns.set(name, entry);
    this.record(t, prev ? { type: 'MODIFIED', rv, entry, prev } : { type: 'ADDED', rv, entry });
    return entry;
  }

  /** Deletes; the returned entry carries the deletion's resourceVersion. */
  delete(def: ResourceDef, namespace: string, name: string): Entry | KubeStatus {
    const t = this.table(def);
    const nsKey = def.namespaced ? namespace : '';
    const ns = t.byNs.get(nsKey);
    const prev = ns?.get(name);
    if (!ns || !prev) return notFound(def, name);
    ns.delete(name);
    if (ns.size === 0) t.byNs.delete(nsKey);
    const rv = ++this.rv;
    const obj = JSON.parse(prev.item) as { metadata: Record<string, unknown> };
    obj.metadata.resourceVersion = String(rv);
    const entry: Entry = { ...prev, rv, item: JSON.stringify(obj) };
    this.record(t, { type: 'DELETED', rv, entry });
    return entry;
  }

  private record(t: Table, ev: StoreEvent): void {
    t.history.push(ev);
    // Trim in batches (amortised O(1)); a watch may resume from the last event dropped.
    if (t.history.length > 2 * this.historySize) {
      const dropped = t.history.splice(0, t.history.length - this.historySize);
      t.oldestServable = Math.max(t.oldestServable, dropped[dropped.length - 1]!.rv);
    }
    this.onEvent(t.def, ev);
  }

  /** Events after `rv`, or the oldest resumable resourceVersion when `rv` is too old. */
  since(def: ResourceDef, rv: number): StoreEvent[] | { tooOld: number } {
    const t = this.table(def);
    if (rv < t.oldestServable) return { tooOld: t.oldestServable };
    const h = t.history;
    let lo = 0;
    let hi = h.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (h[mid]!.rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return h.slice(lo);
  }

  /** Every current object matching `f` (insertion order). */
  select(def: ResourceDef, f: Filter): Entry[] {
    const t = this.table(def);
    const out: Entry[] = [];
    const add = (ns: Map<string, Entry>): void => {
      for (const e of ns.values()) if (matches(f, e)) out.push(e);
    };
    if (f.namespace !== undefined) {
      const ns = t.byNs.get(f.namespace);
      if (ns) add(ns);
    } else {
      for (const ns of t.byNs.values()) add(ns);
    }
    return out;
  }

  /**
   * A list, whole or one page of it. Pages come from a snapshot taken by the first one, so a paged list is
   * consistent as the real server's is; a continue token whose snapshot is gone is Expired (410).
   */
  page(def: ResourceDef, f: Filter, limit: number | undefined, token: string | undefined): Page | KubeStatus {
    let snap: Snapshot;
    let start = 0;
    if (token !== undefined && token !== '') {
      const parsed = decodeToken(token);
      if (!parsed) return failure(400, `continue key is not valid: ${token}`, 'BadRequest');
      const s = this.snapshots.get(parsed.id);
      if (!s || s.key !== resourceKey(def)) {
        return failure(410, 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.', 'Expired');
      }
      [snap, start] = [s, parsed.start];
    } else {
      const entries = this.select(def, f);
      if (limit === undefined || limit <= 0 || entries.length <= limit) return { rv: this.rv, entries };
      entries.sort((a, b) => (a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace)));
      snap = { key: resourceKey(def), rv: this.rv, entries };
    }
    const n = limit !== undefined && limit > 0 ? limit : snap.entries.length;
    const entries = snap.entries.slice(start, start + n);
    const next = start + entries.length;
    const id = token ? decodeToken(token)!.id : randomBytes(8).toString('hex');
    if (next >= snap.entries.length) {
      this.snapshots.delete(id);
      return { rv: snap.rv, entries };
    }
    this.snapshots.delete(id);
    this.snapshots.set(id, snap);
    if (this.snapshots.size > MAX_SNAPSHOTS) this.snapshots.delete(this.snapshots.keys().next().value!);
    return { rv: snap.rv, entries, continue: encodeToken(snap.rv, next, id), remaining: snap.entries.length - next };
  }

  /** Compaction: every resourceVersion handed out so far becomes too old to watch from or continue. */
  compact(): void {
    this.compactedAt = ++this.rv;
    for (const t of this.tables.values()) {
      t.history = [];
      t.oldestServable = this.compactedAt;
    }
    this.snapshots.clear();
  }
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function encodeToken(rv: number, start: number, id: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start, id })).toString('base64url');
}

function decodeToken(token: string): { start: number; id: string } | undefined {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { start?: unknown; id?: unknown };
    if (typeof t.start !== 'number' || !Number.isInteger(t.start) || t.start < 0 || typeof t.id !== 'string') return undefined;
    return { start: t.start, id: t.id };
  } catch {
    return undefined;
  }
}
