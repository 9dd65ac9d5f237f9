// nodemesh.io/v1alpha1 LocalRateLimit: a token bucket per destination service (optionally per port,
// per VirtualService route, and per client key), enforced by each agent on the requests it forwards.
import { PORT_RANGE, type Fields, type IntRange } from '../fields';
import { checkHost } from '../formats';
import type { LocalRateLimit } from '../traffic';
import { readMetadata } from './metadata';
import { checkHeaderName, durationMs, strip, trueFlag } from './trafficfields';
import type { Origin, ParsedRateLimit } from './types';

const SPEC_FIELDS = ['host', 'port', 'route', 'tokenBucket', 'perKey'];
const POSITIVE: IntRange = { min: 1, max: 2 ** 31 - 1 };

export function readLocalRateLimit(doc: Fields, origin: Origin): ParsedRateLimit | undefined {
  const meta = readMetadata(doc, []);
  const spec = doc.object('spec', SPEC_FIELDS, { required: true });
  if (spec === undefined) return undefined;
  const host = spec.string('host', { required: true, check: checkHost })?.toLowerCase();
  const port = spec.int('port', PORT_RANGE);
  const route = spec.string('route', { check: (s) => (s === '' ? 'must not be empty' : undefined) });
  const bucket = spec.object('tokenBucket', ['maxTokens', 'tokensPerFill', 'fillInterval'], { required: true });
  const maxTokens = bucket?.int('maxTokens', POSITIVE, true);
  const tokensPerFill = bucket?.int('tokensPerFill', POSITIVE) ?? maxTokens;
  const fillIntervalMs = bucket && durationMs(bucket, 'fillInterval', { required: true });
  const perKey = readPerKey(spec);
  if (meta === undefined || host === undefined || maxTokens === undefined || tokensPerFill === undefined || fillIntervalMs === undefined) return undefined;
  if (spec.has('perKey') && perKey === undefined) return undefined;
  const limit: LocalRateLimit = strip({
    name: meta.name,
    namespace: meta.namespace,
    service: '',
    port,
    route,
    maxTokens,
    tokensPerFill,
    fillIntervalMs,
    perKey,
  });
  return { kind: 'LocalRateLimit', origin, limit, host };
}

/** `{sourcePrincipal: true}` or `{header: NAME}`: exactly one. */
function readPerKey(spec: Fields): LocalRateLimit['perKey'] {
  const k = spec.object('perKey', ['sourcePrincipal', 'header']);
  if (k === undefined) return undefined;
  if (k.has('sourcePrincipal') && k.has('header')) {
    k.sink.report(k.path, 'must set exactly one of sourcePrincipal, header');
    return undefined;
  }
  if (!k.oneOf(['sourcePrincipal', 'header'], 'must set exactly one of sourcePrincipal, header')) return undefined;
  if (k.has('sourcePrincipal')) return trueFlag(k, 'sourcePrincipal') && { sourcePrincipal: true };
  const header = k.string('header', { required: true, check: checkHeaderName });
  return header === undefined ? undefined : { header: header.toLowerCase() };
}
