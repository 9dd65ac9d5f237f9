// PeerAuthentication: whether a workload's inbound connections must, may or must not use mTLS. The
// scopes (mesh, namespace, workload, port) are resolved by policy/peerauth.ts; here only one document.
import { Fields, describe, isRecord, joinKey } from '../fields';
import type { MtlsMode } from '../model';
import { readMetadata } from './metadata';
import { parsePortString, readPolicySelector } from './security';
import type { Origin, ParsedPeerAuthn } from './types';

const SPEC_FIELDS = ['selector', 'mtls', 'portLevelMtls'];
export const MTLS_MODES: readonly MtlsMode[] = ['UNSET', 'PERMISSIVE', 'STRICT', 'DISABLE'];

export function readPeerAuthentication(doc: Fields, origin: Origin): ParsedPeerAuthn | undefined {
  const meta = readMetadata(doc, []);
  // No spec is an all-UNSET policy: it inherits everything, as an empty spec does in Istio.
  const spec = doc.object('spec', SPEC_FIELDS);
  const selector = spec && readPolicySelector(spec);
  const mode = spec ? readMode(spec, 'mtls') : 'UNSET';
  const portLevel = spec ? readPortLevel(spec, selector) : {};
  if (meta === undefined || mode === undefined || portLevel === undefined) return undefined;
  return {
    kind: 'PeerAuthentication',
    origin,
    policy: { name: meta.name, namespace: meta.namespace, selector, mode, portLevel },
  };
}

/** `{mode}` under KEY; UNSET when the mapping or its mode is absent, undefined when it is bad. */
function readMode(f: Fields, key: string): MtlsMode | undefined {
  if (!f.has(key)) return 'UNSET';
  const m = f.object(key, ['mode']);
  if (m === undefined) return undefined;
  if (!m.has('mode')) return 'UNSET';
  return m.choice('mode', MTLS_MODES);
}

function readPortLevel(spec: Fields, selector: Readonly<Record<string, string>> | undefined): Record<string, MtlsMode> | undefined {
  const raw = spec.raw('portLevelMtls');
  if (raw === undefined) return {};
  if (!isRecord(raw)) {
    spec.report('portLevelMtls', `must be a mapping of port numbers to {mode}, got ${describe(raw)}`);
    return undefined;
  }
  // Istio's rules: port-level settings belong to a workload policy, and an empty map is a mistake.
  if (selector === undefined) {
    spec.report('portLevelMtls', 'requires spec.selector (only workload policies can set port-level mTLS)');
  }
  if (Object.keys(raw).length === 0) spec.report('portLevelMtls', 'must name at least one port (leave it out instead)');
  const out: Record<string, MtlsMode> = {};
  let bad = false;
  for (const [key, value] of Object.entries(raw)) {
    const path = joinKey(spec.at('portLevelMtls'), key);
    const port = parsePortString(key);
    if (port === undefined) {
      spec.sink.report(path, `"${key}" is not a port number (1 to 65535)`);
      bad = true;
    }
    const entry = Fields.open(spec.sink, path, value, ['mode']);
    const mode = entry === undefined ? undefined : entry.has('mode') ? entry.choice('mode', MTLS_MODES) : 'UNSET';
    if (port === undefined || mode === undefined) bad = true;
    else out[String(port)] = mode;
  }
  return bad ? undefined : out;
}
