// Istio resources read from the API (VirtualService, DestinationRule, ServiceEntry, WorkloadEntry,
// PeerAuthentication, AuthorizationPolicy, RequestAuthentication, Telemetry). Each object is validated on its own with the same readers
// as the ConfigMap; an invalid version is rejected by name and the previous valid version of that object
// keeps applying, while every other object applies. (The ConfigMap, by contrast, is all or nothing.)
import { formatIssues } from '../config/issues';
import { readDocument } from '../config/kinds';
import { logger } from '../log';
import type { Reserved } from '../config/reserved';
import type { Parsed } from '../config/kinds/types';
import type { ConfigIssue } from '../config/model';
import type { ResourceSpec } from './informer';

const log = logger('discovery');

/** Issues of API objects carry this file name, so the composer can tell them from the ConfigMap's. */
export const API_FILE = 'kubernetes-api';

export interface IstioKind {
  readonly kind: string;
  readonly group: string;
  readonly version: string;
  readonly plural: string;
}

export const ISTIO_KINDS: readonly IstioKind[] = [
  { kind: 'ServiceEntry', group: 'networking.istio.io', version: 'v1', plural: 'serviceentries' },
  { kind: 'WorkloadEntry', group: 'networking.istio.io', version: 'v1', plural: 'workloadentries' },
  { kind: 'VirtualService', group: 'networking.istio.io', version: 'v1', plural: 'virtualservices' },
  { kind: 'DestinationRule', group: 'networking.istio.io', version: 'v1', plural: 'destinationrules' },
  { kind: 'PeerAuthentication', group: 'security.istio.io', version: 'v1', plural: 'peerauthentications' },
  { kind: 'AuthorizationPolicy', group: 'security.istio.io', version: 'v1', plural: 'authorizationpolicies' },
  { kind: 'RequestAuthentication', group: 'security.istio.io', version: 'v1', plural: 'requestauthentications' },
  { kind: 'Telemetry', group: 'telemetry.istio.io', version: 'v1', plural: 'telemetries' },
];

/** The object as kept: its API identity (for Events) and the raw JSON minus server bookkeeping. */
export interface IstioObject {
  readonly kind: string;
  readonly apiVersion: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly resourceVersion: string;
  readonly raw: Record<string, unknown>;
}

export function istioSpec(k: IstioKind): ResourceSpec<IstioObject> {
  return {
    kind: k.kind,
    path: `/apis/${k.group}/${k.version}/${k.plural}`,
    optional: true,
    trim: (raw) => trimIstio(k, raw),
  };
}

function trimIstio(k: IstioKind, raw: unknown): { ok: IstioObject } | { skip: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { skip: 'not a JSON object' };
  const o = raw as Record<string, unknown>;
  const meta = o.metadata as Record<string, unknown> | undefined;
  if (typeof meta !== 'object' || meta === null || typeof meta.name !== 'string') return { skip: 'no metadata.name' };
  // managedFields can be most of an object's size and is server bookkeeping: never kept.
  const { managedFields: _drop, ...metadata } = meta;
  void _drop;
  // List items come without kind/apiVersion: the resource path says what they are.
  const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : `${k.group}/${k.version}`;
  return {
    ok: {
      kind: k.kind,
      apiVersion,
      namespace: typeof metadata.namespace === 'string' ? metadata.namespace : 'default',
      name: metadata.name as string,
      uid: typeof metadata.uid === 'string' ? metadata.uid : '',
      resourceVersion: typeof metadata.resourceVersion === 'string' ? metadata.resourceVersion : '',
      raw: { ...o, apiVersion, kind: k.kind, metadata },
    },
  };
}

export type Verdict = { readonly ok: true; readonly parsed: readonly Parsed[]; readonly warnings: readonly ConfigIssue[] } | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

/** Validates one API object with the ConfigMap's readers. Pure. */
export function validateIstio(o: IstioObject, reserved?: Reserved): Verdict {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  // Objects from the API exist only with discovery, which reads the Secrets credentialName names.
  const parsed = readDocument(issues, API_FILE, 0, o.raw, { ...(reserved !== undefined ? { reserved } : {}), secrets: true }, warnings);
  return issues.length > 0 || parsed.length === 0 ? { ok: false, issues } : { ok: true, parsed, warnings };
}

interface Entry {
  /** The latest version that passed validation on its own (what is offered to the composer). */
  valid: { readonly object: IstioObject; readonly parsed: readonly Parsed[] } | undefined;
  /** The version that was part of the last applied config, to fall back to on a cross-object problem. */
  applied: { readonly object: IstioObject; readonly parsed: readonly Parsed[] } | undefined;
}

export interface Rejection {
  readonly object: IstioObject;
  readonly issues: readonly ConfigIssue[];
}

/** The Istio objects the API holds, by `Kind namespace/name`, each with its last valid version. */
export class IstioObjects {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly reserved?: Reserved) {}

  /** A new version from the API: kept when valid; else rejected, and what was valid before stays. */
  upsert(o: IstioObject): Rejection | undefined {
    const key = `${o.kind} ${o.namespace}/${o.name}`;
    const v = validateIstio(o, this.reserved);
    const e = this.entries.get(key) ?? { valid: undefined, applied: undefined };
    this.entries.set(key, e);
    if (!v.ok) return { object: o, issues: v.issues };
    // Accepted as the ConfigMap's documents are, with what Istio would refuse or read otherwise said once per version.
    if (v.warnings.length > 0) log.warn({ object: key, warnings: v.warnings }, `${key} accepted with warnings:\n${formatIssues(v.warnings)}`);
    e.valid = { object: o, parsed: v.parsed };
    return undefined;
  }

  remove(kind: string, key: string): void {
    this.entries.delete(`${kind} ${key}`);
  }

  /** Candidates for the next config: each object's latest valid version. */
  candidates(): Map<string, readonly Parsed[]> {
    const out = new Map<string, readonly Parsed[]>();
    for (const [k, e] of this.entries) if (e.valid) out.set(k, e.valid.parsed);
    return out;
  }

  /** The fallback for KEY after its latest version clashed with others: the applied one, if older. */
  fallback(key: string): readonly Parsed[] | undefined {
    const e = this.entries.get(key);
    return e?.applied && e.applied !== e.valid ? e.applied.parsed : undefined;
  }

  object(key: string): IstioObject | undefined {
    return this.entries.get(key)?.valid?.object;
  }

  /** After a config applied: remember which version of each object was in it. */
  markApplied(used: ReadonlyMap<string, readonly Parsed[]>): void {
    for (const [k, e] of this.entries) {
      const parsed = used.get(k);
      if (parsed === undefined) continue;
      if (e.valid?.parsed === parsed) e.applied = e.valid;
    }
  }
}
