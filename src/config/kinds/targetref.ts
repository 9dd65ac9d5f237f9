// spec.targetRef / spec.targetRefs of a RequestAuthentication: the services whose traffic the policy
// applies to (Istio's PolicyTargetReference). nodemesh serves no gateways, so only a Kubernetes Service
// (group "" or "core") or a ServiceEntry (group networking.istio.io) may be named, in the policy's
// namespace; each becomes the service key "namespace/name".
import { Fields, type Item } from '../fields';
import { checkObjectName } from '../formats';

const REF_FIELDS = ['group', 'kind', 'name', 'namespace'];
const KINDS: Readonly<Record<string, readonly string[]>> = { Service: ['', 'core'], ServiceEntry: ['networking.istio.io'] };

/** The service keys named, undefined when neither field is set (problems are reported). */
export function readTargetServices(spec: Fields, namespace: string): string[] | undefined {
  if (spec.has('targetRef') && spec.has('targetRefs')) {
    spec.report('targetRefs', 'cannot be used together with targetRef (list every target in targetRefs)');
    return undefined;
  }
  if (!spec.has('targetRef') && !spec.has('targetRefs')) return undefined;
  if (spec.has('selector')) {
    spec.report(spec.has('targetRef') ? 'targetRef' : 'targetRefs', 'cannot be used together with selector (as in Istio): choose one');
    return undefined;
  }
  const items: Item[] = spec.has('targetRef') ? [{ path: spec.at('targetRef'), value: spec.raw('targetRef') }] : (spec.list('targetRefs') ?? []);
  if (spec.has('targetRefs') && items.length === 0) spec.report('targetRefs', 'must not be empty (leave it out to use selector)');
  const keys: string[] = [];
  for (const item of items) {
    const f = Fields.open(spec.sink, item.path, item.value, REF_FIELDS);
    if (f === undefined) continue;
    const kind = f.string('kind', { required: true });
    const group = f.string('group') ?? '';
    const name = f.string('name', { required: true, check: (s) => checkObjectName(s) });
    const ns = f.string('namespace');
    if (kind !== undefined && KINDS[kind] === undefined) {
      spec.sink.report(item.path, `kind ${kind} is not supported: name a Service or a ServiceEntry (nodemesh serves no gateways)`);
      continue;
    }
    if (kind !== undefined && !KINDS[kind]!.includes(group)) {
      f.report('group', `"${group}" is not the group of ${kind} (${KINDS[kind]!.map((g) => (g === '' ? '""' : g)).join(' or ')})`);
      continue;
    }
    if (ns !== undefined && ns !== namespace) {
      f.report('namespace', `must be the policy's namespace ${namespace} (or left out), got "${ns}"`);
      continue;
    }
    if (name !== undefined && kind !== undefined) keys.push(`${namespace}/${name}`);
  }
  return keys;
}
