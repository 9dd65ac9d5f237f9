// Kubernetes object metadata: what nodemesh reads (name, namespace, labels) and what it accepts and
// ignores so that `kubectl get -o yaml` output loads as is.
import { Fields, joinKey } from '../fields';
import { checkNamespace, checkObjectName } from '../formats';

export const DEFAULT_NAMESPACE = 'default';

/** nodemesh-only settings live under this label prefix; unknown keys there are typos, not free labels. */
export const NODEMESH_LABEL_PREFIX = 'nodemesh.io/';
export const DATAPLANE_LABEL = 'nodemesh.io/dataplane';
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

const METADATA_FIELDS = [
  'name', 'namespace', 'labels', 'annotations',
  // Written by the API server; accepted and ignored.
  'uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields', 'ownerReferences',
  'finalizers', 'generateName', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds',
];

export interface Metadata {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/**
 * Reads DOC.metadata; undefined when the name is missing or invalid (the document cannot be keyed).
 * When NODEMESH_ANNOTATIONS is given, other `nodemesh.io/` annotations are typos and reported; kinds
 * that read no annotation leave it out, so annotations stay free-form there.
 */
export function readMetadata(doc: Fields, nodemeshLabels: readonly string[], nodemeshAnnotations?: readonly string[]): Metadata | undefined {
  const meta = doc.object('metadata', METADATA_FIELDS, { required: true });
  if (meta === undefined) return undefined;
  const name = meta.string('name', { required: true, check: checkObjectName });
  const namespace = meta.string('namespace', { check: checkNamespace }) ?? DEFAULT_NAMESPACE;
  const labels = meta.labelMap('labels') ?? {};
  const annotations = meta.stringMap('annotations') ?? {};
  for (const key of nodemeshAnnotations === undefined ? [] : Object.keys(annotations)) {
    if (key.startsWith(NODEMESH_LABEL_PREFIX) && !nodemeshAnnotations?.includes(key)) {
      meta.sink.report(joinKey(meta.at('annotations'), key), `unknown nodemesh annotation (known here: ${nodemeshAnnotations?.join(', ')})`);
    }
  }
  for (const key of Object.keys(labels)) {
    if (key.startsWith(NODEMESH_LABEL_PREFIX) && !nodemeshLabels.includes(key)) {
      const known = nodemeshLabels.length > 0 ? ` (known here: ${nodemeshLabels.join(', ')})` : '';
      meta.sink.report(joinKey(meta.at('labels'), key), `unknown nodemesh label${known}`);
    }
  }
  return name === undefined ? undefined : { name, namespace, labels, annotations };
}

/** "namespace/name" for labelling issues before the document is validated, when it can be read at all. */
export function peekKey(doc: unknown): string | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const meta = (doc as { metadata?: unknown }).metadata;
  if (typeof meta !== 'object' || meta === null) return undefined;
  const { name, namespace } = meta as { name?: unknown; namespace?: unknown };
  if (typeof name !== 'string') return undefined;
  return `${typeof namespace === 'string' && namespace !== '' ? namespace : DEFAULT_NAMESPACE}/${name}`;
}
