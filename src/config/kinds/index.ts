// Which apiVersion/kind a document is, and the validator for it. Kinds nodemesh knows but does not
// implement yet are refused by name, so a config is never half-understood.
import type { ConfigIssue } from '../model';
import { Fields, closest, describe, isRecord, joinIndex, joinKey } from '../fields';
import { IssueSink } from '../issues';
import { DEFAULT_RESERVED, type Reserved } from '../reserved';
import { readAuthorizationPolicy } from './authorizationpolicy';
import { readDestinationRule } from './destinationrule';
import { foreignKind, foreignKinds, isKubernetesGroup } from './foreign';
import { readHealthCheck } from './healthcheck';
import { peekKey } from './metadata';
import { readNode } from './node';
import { readPeerAuthentication } from './peerauthentication';
import { readRequestAuthentication } from './requestauthentication';
import { readLocalRateLimit } from './ratelimit';
import { readServiceEntry } from './serviceentry';
import { readTelemetry } from './telemetry';
import type { Origin, Parsed, ReadOptions } from './types';
import { readVirtualService } from './virtualservice';
import { readWorkloadEntry } from './workloadentry';

const VERSIONS: Readonly<Record<string, readonly string[]>> = {
  'networking.istio.io': ['v1', 'v1beta1', 'v1alpha3'],
  'security.istio.io': ['v1', 'v1beta1'],
  'telemetry.istio.io': ['v1', 'v1alpha1'],
  'nodemesh.io': ['v1alpha1'],
};

/** What validation needs to know about the agent that will apply the config. */
export interface ReadContext {
  /** The agent's own addresses and ports (default: the agent's default flags). */
  readonly reserved?: Reserved;
  /** Kubernetes discovery runs, so DestinationRule tls.credentialName can name a Secret. */
  readonly secrets?: boolean;
}

type Reader = (doc: Fields, origin: Origin, opts: ReadOptions) => Parsed | undefined;

const KINDS: Readonly<Record<string, { readonly group: string; readonly read?: Reader }>> = {
  ServiceEntry: { group: 'networking.istio.io', read: readServiceEntry },
  WorkloadEntry: { group: 'networking.istio.io', read: readWorkloadEntry },
  VirtualService: { group: 'networking.istio.io', read: readVirtualService },
  DestinationRule: { group: 'networking.istio.io', read: readDestinationRule },
  PeerAuthentication: { group: 'security.istio.io', read: readPeerAuthentication },
  AuthorizationPolicy: { group: 'security.istio.io', read: readAuthorizationPolicy },
  RequestAuthentication: { group: 'security.istio.io', read: readRequestAuthentication },
  Telemetry: { group: 'telemetry.istio.io', read: readTelemetry },
  Node: { group: 'nodemesh.io', read: readNode },
  LocalRateLimit: { group: 'nodemesh.io', read: readLocalRateLimit },
  HealthCheck: { group: 'nodemesh.io', read: readHealthCheck },
};

/** Top-level fields; `status` (written by Istio's status manager) is accepted and ignored. */
const DOCUMENT_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

/**
 * Validates one parsed YAML document, appending problems to ISSUES (and what Istio would refuse but
 * nodemesh reads to WARNINGS). A `v1 List` (kubectl get -o yaml of several objects) yields its items,
 * with field paths under `items[N]`.
 */
export function readDocument(issues: ConfigIssue[], file: string, document: number, value: unknown, ctx: ReadContext = {}, warnings: ConfigIssue[] = []): Parsed[] {
  const opts: ReadOptions = { reserved: ctx.reserved ?? DEFAULT_RESERVED, ...(ctx.secrets === true ? { secrets: true } : {}) };
  if (isRecord(value) && value.apiVersion === 'v1' && value.kind === 'List') {
    const sink = new IssueSink(issues, file, document, warnings);
    sink.kind = 'List';
    const list = Fields.open(sink, '', value, ['apiVersion', 'kind', 'metadata', 'items']);
    return (list?.list('items') ?? []).flatMap((item, i) => {
      const parsed = readObject(new IssueSink(issues, file, document, warnings), joinIndex('items', i), item.value, opts);
      return parsed ? [parsed] : [];
    });
  }
  const parsed = readObject(new IssueSink(issues, file, document, warnings), '', value, opts);
  return parsed ? [parsed] : [];
}

function readObject(sink: IssueSink, root: string, value: unknown, opts: ReadOptions): Parsed | undefined {
  if (!isRecord(value)) {
    sink.report(root, `must be a mapping with apiVersion and kind, got ${describe(value)}`);
    return undefined;
  }
  const { apiVersion, kind } = value;
  if (typeof kind === 'string') sink.kind = kind;
  sink.name = peekKey(value);
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    if (typeof apiVersion !== 'string') sink.report(joinKey(root, 'apiVersion'), 'required string field is missing');
    if (typeof kind !== 'string') sink.report(joinKey(root, 'kind'), 'required string field is missing');
    return undefined;
  }
  const problem = checkType(apiVersion, kind);
  if (problem !== undefined) {
    sink.report(joinKey(root, problem.field), problem.message);
    return undefined;
  }
  const read = KINDS[kind]?.read;
  if (read === undefined) {
    sink.report(joinKey(root, 'kind'), `kind ${kind} is not supported yet by this nodemesh version`);
    return undefined;
  }
  const doc = Fields.open(sink, root, value, DOCUMENT_FIELDS);
  const origin: Origin = { file: sink.file, document: sink.document, kind, name: sink.name ?? '', root };
  return doc && read(doc, origin, opts);
}

function checkType(apiVersion: string, kind: string): { field: string; message: string } | undefined {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  const foreign = foreignKind(group, kind);
  if (foreign !== undefined) return { field: 'kind', message: foreign };
  const versions = VERSIONS[group];
  const entry = Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
  if (versions === undefined) {
    const kubernetes = slash < 0 ? /^v[0-9]/.test(apiVersion) : isKubernetesGroup(group);
    const hint = entry
      ? ` (${kind} is ${entry.group}/${VERSIONS[entry.group]?.[0]})`
      : kubernetes ? ': Kubernetes objects are not read from the config (it holds Istio and nodemesh.io kinds)' : '';
    return { field: 'apiVersion', message: `unknown apiVersion "${apiVersion}"${hint}` };
  }
  if (!versions.includes(version)) {
    return { field: 'apiVersion', message: `unknown version "${version}" of ${group} (known: ${versions.join(', ')})` };
  }
  if (entry === undefined) {
    const near = closest(kind, [...Object.keys(KINDS), ...foreignKinds(group)]);
    const known = Object.keys(KINDS).filter((k) => KINDS[k]?.group === group);
    return { field: 'kind', message: `unknown kind "${kind}" in ${group} (${near !== undefined ? `did you mean "${near}"?` : `known: ${known.join(', ')}`})` };
  }
  if (entry.group !== group) {
    return { field: 'apiVersion', message: `kind ${kind} belongs to ${entry.group}, not ${group}` };
  }
  return undefined;
}
