// Joins the three sources of the mesh view into one config: the ConfigMap's documents (all or nothing),
// Istio objects from the API (each on its own) and what discovery translated from Services, EndpointSlices,
// Pods and Nodes. Pure. A problem found by the cross-document pass is pinned on the object it was reported
// against, and that object alone gives way:
// - a new ConfigMap that does not fit is refused whole, and the last good one stays;
// - an API object falls back to the version last applied, or is left out;
// - a discovered object, or a document of the already accepted ConfigMap that no longer fits the API's
//   state (a VirtualService whose Service was deleted), is left out until it fits again.
// Sources are joined ConfigMap first, then Kubernetes objects, then Istio objects from the API: on a clash
// (two claims of one VIP) the earlier keeps it, so no namespace's ServiceEntry can take over a Service.
import { assembleConfig, type LoadResult, type ParsedConfig } from '../config/load';
import type { Parsed } from '../config/kinds/types';
import type { ConfigIssue, MeshConfig } from '../config/model';
import { API_FILE } from './istio';

export interface ComposeInput {
  /** The ConfigMap as last read; with single-document issues it is refused before any joining. */
  readonly configMap: ParsedConfig | undefined;
  /** The last ConfigMap that became part of an applied config. */
  readonly lastGoodConfigMap: ParsedConfig | undefined;
  /** Istio API objects by `Kind ns/name`: each one's latest valid version. */
  readonly istio: ReadonlyMap<string, readonly Parsed[]>;
  /** Fallback versions for API objects whose latest version clashes (see IstioObjects.fallback). */
  readonly fallback: (key: string) => readonly Parsed[] | undefined;
  /** Translated Kubernetes objects (origin file `kubernetes:<Kind>`). */
  readonly discovered: readonly Parsed[];
  /** Changes whenever discovery's view changes (part of the config's hash). */
  readonly generation: number;
}

export interface Exclusion {
  /** `Kind ns/name` for API and discovered objects; `file#document` for ConfigMap documents. */
  readonly key: string;
  readonly source: 'configmap' | 'api' | 'discovered';
  readonly issues: readonly ConfigIssue[];
  /** True when an older version of the object stands in for it. */
  readonly fellBack: boolean;
}

export interface Composed {
  readonly result: LoadResult;
  /** The ConfigMap in the result (the new one, or the last good one when the new one was refused). */
  readonly configMap: ParsedConfig | undefined;
  /** Set when the new ConfigMap was refused: why. */
  readonly configMapRefused: readonly ConfigIssue[] | undefined;
  readonly excluded: readonly Exclusion[];
  /** The Istio object versions in the result, by key (for IstioObjects.markApplied). */
  readonly istioUsed: ReadonlyMap<string, readonly Parsed[]>;
}

const MAX_ROUNDS = 50;

export function compose(input: ComposeInput): Composed {
  let configMap = input.configMap;
  let refused: readonly ConfigIssue[] | undefined;
  if (configMap && configMap.issues.length > 0) {
    refused = configMap.issues;
    configMap = input.lastGoodConfigMap;
  }
  const istio = new Map(input.istio);
  const excluded = new Map<string, Exclusion>();
  const skipDocs = new Set<string>();
  const skipDiscovered = new Set<string>();
  let last: LoadResult | undefined;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const parsed: Parsed[] = [];
    for (const p of configMap?.parsed ?? []) if (!skipDocs.has(docKey(p.origin.file, p.origin.document))) parsed.push(p);
    // Kubernetes objects before Istio objects from the API: on a clash (a ServiceEntry in any namespace
    // claiming a Service's ClusterIP or host, a WorkloadEntry claiming a pod's IP) the API object gives way.
    for (const p of input.discovered) if (!skipDiscovered.has(objKey(p.origin.kind, p.origin.name))) parsed.push(p);
    for (const list of istio.values()) parsed.push(...list);
    const files = [...(configMap?.source.files ?? []), 'kubernetes'];
    const hash = `${configMap?.source.hash ?? ''}:${input.generation}`;
    last = assembleConfig(parsed, { files, hash }, [], configMap?.warnings ?? []);
    if (last.ok) return { result: last, configMap, configMapRefused: refused, excluded: [...excluded.values()], istioUsed: istio };

    let progressed = false;
    const byTarget = group(last.issues);
    for (const [target, issues] of byTarget) {
      if (target.source === 'api') {
        const fb = input.fallback(target.key);
        const current = istio.get(target.key);
        if (current === undefined) continue;
        if (fb !== undefined && fb !== current) istio.set(target.key, fb);
        else istio.delete(target.key);
        excluded.set(target.key, { key: target.key, source: 'api', issues, fellBack: fb !== undefined && fb !== current });
        progressed = true;
      } else if (target.source === 'discovered') {
        if (skipDiscovered.has(target.key)) continue;
        skipDiscovered.add(target.key);
        excluded.set(target.key, { key: target.key, source: 'discovered', issues, fellBack: false });
        progressed = true;
      } else if (configMap !== undefined && configMap === input.configMap && input.lastGoodConfigMap !== undefined && input.lastGoodConfigMap !== configMap) {
        // The new ConfigMap does not fit: refused whole, as a reload from a file always is.
        refused = [...(refused ?? []), ...issues];
        configMap = input.lastGoodConfigMap;
        skipDocs.clear();
        progressed = true;
        break;
      } else if (configMap !== undefined && configMap === input.configMap && input.lastGoodConfigMap === undefined && refused === undefined && round === 0) {
        // A first ConfigMap that does not fit even before the API view could have changed: refused.
        refused = issues;
        configMap = undefined;
        progressed = true;
        break;
      } else if (!skipDocs.has(target.key)) {
        skipDocs.add(target.key);
        excluded.set(target.key, { key: target.key, source: 'configmap', issues, fellBack: false });
        progressed = true;
      }
    }
    if (!progressed) break;
  }
  return { result: last ?? { ok: false, issues: [] }, configMap, configMapRefused: refused, excluded: [...excluded.values()], istioUsed: istio };
}

interface Target {
  readonly key: string;
  readonly source: Exclusion['source'];
}

/** Issues grouped by the object they were reported against (one Target object per key). */
function group(issues: readonly ConfigIssue[]): Map<Target, ConfigIssue[]> {
  const targets = new Map<string, Target>();
  const out = new Map<Target, ConfigIssue[]>();
  for (const i of issues) {
    const t: Target =
      i.file === API_FILE
        ? { key: objKey(i.kind, i.name), source: 'api' }
        : i.file.startsWith('kubernetes:')
          ? { key: objKey(i.kind, i.name), source: 'discovered' }
          : { key: docKey(i.file, i.document), source: 'configmap' };
    const id = `${t.source} ${t.key}`;
    let target = targets.get(id);
    if (target === undefined) targets.set(id, (target = t));
    out.set(target, [...(out.get(target) ?? []), i]);
  }
  return out;
}

function objKey(kind: string | undefined, name: string | undefined): string {
  return `${kind ?? ''} ${name ?? ''}`;
}

function docKey(file: string, document: number): string {
  return `${file}#${document}`;
}

/** The config view that compose() returned, for callers that only need the MeshConfig. */
export function configOf(c: Composed): MeshConfig | undefined {
  return c.result.ok ? c.result.config : undefined;
}
