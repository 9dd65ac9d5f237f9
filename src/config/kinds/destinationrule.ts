// DestinationRule: load balancing, connection pool limits and outlier detection for one service, and
// its subsets (endpoint label selectors). Policies are stored as written, with Istio's and Envoy's
// defaults filled in; merging subset and port-level policies is the router's job.
import { Fields, joinKey, type IntRange } from '../fields';
import { checkHost } from '../formats';
import type { ConnectionPool, ConsistentHash, HashKey, LoadBalancer, OutlierDetection, PortTrafficPolicy, SimpleLb, Subset, TrafficPolicy } from '../traffic';
import { readClientTls, type TlsContext } from './clienttls';
import { readLocalityLbSetting } from './locality';
import { readMetadata, type Metadata } from './metadata';
import { bool, durationMs, portNumber, strip, trueFlag } from './trafficfields';
import type { At, Origin, ParsedDestinationRule, ReadOptions } from './types';
import { WARMUP_FIELDS, readWarmup, withWarmup } from './warmup';

/** nodemesh's extension: Istio has no PEAK_EWMA, so it is chosen by annotation, not in the spec. */
export const LB_ANNOTATION = 'nodemesh.io/load-balancer';

const SPEC_FIELDS = ['host', 'trafficPolicy', 'subsets', 'exportTo'];
const POLICY_FIELDS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'portLevelSettings', 'tls'];
const UNSUPPORTED_POLICY_FIELDS = ['tunnel', 'proxyProtocol', 'retryBudget'];
const SIMPLE: readonly string[] = ['ROUND_ROBIN', 'LEAST_REQUEST', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH'];
const INT32: IntRange = { min: 0, max: 2 ** 31 - 1 };
const POSITIVE: IntRange = { min: 1, max: 2 ** 31 - 1 };
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const DEFAULT_RING_SIZE = 1024;
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
/** Envoy's limits: ring hash up to 8M entries, Maglev tables up to 5000011. */
const MAX_RING_SIZE = 8_388_608;
const MAX_MAGLEV_TABLE_SIZE = 5_000_011;

export function readDestinationRule(doc: Fields, origin: Origin, opts?: ReadOptions): ParsedDestinationRule | undefined {
  const meta = readMetadata(doc, [], [LB_ANNOTATION]);
  // credentialName names a Secret of the rule's own namespace.
  const tc: TlsContext = { namespace: meta?.namespace ?? 'default', secrets: opts?.secrets === true };
  const spec = doc.object('spec', SPEC_FIELDS, { required: true, unsupported: ['workloadSelector'] });
  if (spec === undefined) return undefined;
  // `*` and `*.suffix` apply to every service they cover, the most specific rule winning (traffic-build.ts).
  const host = spec.string('host', { required: true, check: (h) => (h === '*' ? undefined : checkHost(h)) })?.toLowerCase();
  // Visibility scoping: every rule applies mesh-wide in this version, so exportTo is read and ignored.
  spec.stringList('exportTo');
  const ports: At<number>[] = [];
  const top = spec.has('trafficPolicy') ? readPolicy(spec, 'trafficPolicy', ports, tc) : undefined;
  const subsets = readSubsets(spec, ports, tc);
  const peakEwma = meta !== undefined && readLbAnnotation(doc, meta, top?.policy);
  if (meta === undefined || host === undefined) return undefined;
  let trafficPolicy = top?.policy;
  if (peakEwma) trafficPolicy = { ...trafficPolicy, loadBalancer: { simple: 'PEAK_EWMA' } };
  return {
    kind: 'DestinationRule',
    origin,
    rule: strip({ name: meta.name, namespace: meta.namespace, host, service: '', trafficPolicy, portLevel: top?.portLevel ?? [], subsets }),
    ports,
  };
}

/** True when the annotation asks for PEAK_EWMA (and nothing in the spec contradicts it). */
function readLbAnnotation(doc: Fields, meta: Metadata, policy: TrafficPolicy | undefined): boolean {
  const value = meta.annotations[LB_ANNOTATION];
  if (value === undefined) return false;
  const path = joinKey(joinKey(doc.at('metadata'), 'annotations'), LB_ANNOTATION);
  if (value !== 'PEAK_EWMA') {
    doc.sink.report(path, `must be PEAK_EWMA, got "${value}" (other balancers are set in spec.trafficPolicy.loadBalancer)`);
    return false;
  }
  if (policy?.loadBalancer !== undefined) {
    doc.sink.report(path, 'conflicts with spec.trafficPolicy.loadBalancer: set the load balancer in one place');
    return false;
  }
  return true;
}

interface ReadPolicy {
  readonly policy: TrafficPolicy;
  readonly portLevel: PortTrafficPolicy[];
}

function readPolicy(parent: Fields, key: string, ports: At<number>[], tc: TlsContext): ReadPolicy | undefined {
  const f = parent.object(key, POLICY_FIELDS, { unsupported: UNSUPPORTED_POLICY_FIELDS });
  if (f === undefined) return undefined;
  const raw = parent.raw(key);
  if (typeof raw === 'object' && raw !== null && Object.keys(raw).length === 0) {
    f.sink.report(f.path, `must set at least one field (leave ${key} out for the defaults)`);
  }
  const portLevel: PortTrafficPolicy[] = [];
  for (const item of f.list('portLevelSettings') ?? []) {
    const p = Fields.open(f.sink, item.path, item.value, ['port', 'loadBalancer', 'connectionPool', 'outlierDetection', 'tls']);
    if (p === undefined) continue;
    const port = portNumber(p, 'port', true);
    const path = joinKey(p.at('port'), 'number');
    if (port !== undefined && portLevel.some((x) => x.port === port)) p.sink.report(path, `duplicate port ${port} in portLevelSettings`);
    else if (port !== undefined) {
      ports.push({ value: port, path });
      portLevel.push({ port, ...readSettings(p, tc) });
    }
  }
  return { policy: readSettings(f, tc), portLevel };
}

function readSettings(f: Fields, tc: TlsContext): TrafficPolicy {
  return strip({
    loadBalancer: readLoadBalancer(f),
    connectionPool: readConnectionPool(f),
    outlierDetection: readOutlierDetection(f),
    // TLS origination (SIMPLE, MUTUAL); ISTIO_MUTUAL is the mesh's own mutual TLS between agents.
    tls: readClientTls(f, undefined, tc),
  });
}

function readLoadBalancer(parent: Fields): LoadBalancer | undefined {
  const f = parent.object('loadBalancer', ['simple', 'consistentHash', 'localityLbSetting', ...WARMUP_FIELDS]);
  if (f === undefined) return undefined;
  const warmup = readWarmup(f);
  if ((f.has('warmup') || f.has('warmupDurationSecs')) && warmup === undefined) return undefined;
  // localityLbSetting or warmup alone keeps the default balancer (round robin).
  const locality = readLocalityLbSetting(f);
  if (f.has('localityLbSetting') && locality === undefined) return undefined;
  if ((locality !== undefined || warmup !== undefined) && !f.has('simple') && !f.has('consistentHash')) {
    return withWarmup(f, { simple: 'ROUND_ROBIN', ...(locality !== undefined ? { locality } : {}) }, warmup);
  }
  const lb = readLbAlgorithm(f);
  if (lb === undefined) return undefined;
  return withWarmup(f, locality !== undefined ? { ...lb, locality } : lb, warmup);
}

function readLbAlgorithm(f: Fields): LoadBalancer | undefined {
  if (f.has('simple') && f.has('consistentHash')) {
    f.sink.report(f.path, 'must set only one of simple, consistentHash');
    return undefined;
  }
  if (f.has('consistentHash')) {
    const consistentHash = readConsistentHash(f);
    return consistentHash && { consistentHash };
  }
  if (!f.oneOf(['simple', 'consistentHash'], 'must set simple or consistentHash')) return undefined;
  const s = f.string('simple');
  if (s === undefined) return undefined;
  // UNSPECIFIED is Istio's "the default balancer": round robin here (see docs/traffic.md).
  const upper = s.toUpperCase() === 'UNSPECIFIED' ? 'ROUND_ROBIN' : s.toUpperCase();
  if (upper === 'PEAK_EWMA') {
    f.report('simple', `PEAK_EWMA is not an Istio balancer: set the annotation ${LB_ANNOTATION}: PEAK_EWMA instead`);
    return undefined;
  }
  if (!SIMPLE.includes(upper)) {
    f.report('simple', `must be one of ${SIMPLE.join(', ')}, got "${s}"`);
    return undefined;
  }
  f.spelling('simple', s, s.toUpperCase());
  // Istio's LEAST_CONN is a deprecated name of LEAST_REQUEST.
  return { simple: (upper === 'LEAST_CONN' ? 'LEAST_REQUEST' : upper) as SimpleLb };
}

function readConsistentHash(parent: Fields): ConsistentHash | undefined {
  const f = parent.object('consistentHash', ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName', 'ringHash', 'maglev', 'minimumRingSize']);
  if (f === undefined) return undefined;
  const keys = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'].filter((k) => f.has(k));
  if (keys.length > 1) f.sink.report(f.path, `must set only one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName, got ${keys.join(' and ')}`);
  f.oneOf(['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'], 'must set one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName');
  const algorithms = ['ringHash', 'maglev', 'minimumRingSize'].filter((k) => f.has(k));
  if (algorithms.length > 1) f.sink.report(f.path, `must set only one of ringHash, maglev, minimumRingSize, got ${algorithms.join(' and ')}`);

  let key: HashKey | undefined;
  const header = f.string('httpHeaderName', { required: keys[0] === 'httpHeaderName' });
  if (header !== undefined) key = { header: header.toLowerCase() };
  const query = f.string('httpQueryParameterName', { required: keys[0] === 'httpQueryParameterName' });
  if (query !== undefined) key = { queryParameter: query };
  if (trueFlag(f, 'useSourceIp')) key = { sourceIp: true };
  const c = f.object('httpCookie', ['name', 'path', 'ttl'], { unsupported: ['attributes'] });
  if (c !== undefined) {
    const name = c.string('name', { required: true });
    const path = c.string('path');
    // Without a ttl Envoy hashes on the cookie but never issues it; nodemesh issues a session cookie.
    const ttlMs = durationMs(c, 'ttl', { allowZero: true }) ?? 0;
    if (name !== undefined) key = { cookie: strip({ name, path, ttlMs }) };
  }

  let algorithm: ConsistentHash['algorithm'] = 'RING_HASH';
  let size: number | undefined = DEFAULT_RING_SIZE;
  const ringRange = { min: 1, max: MAX_RING_SIZE };
  if (f.has('minimumRingSize')) size = f.int('minimumRingSize', ringRange);
  const ring = f.object('ringHash', ['minimumRingSize']);
  if (ring !== undefined && ring.has('minimumRingSize')) size = ring.int('minimumRingSize', ringRange);
  const maglev = f.object('maglev', ['tableSize']);
  if (maglev !== undefined) {
    algorithm = 'MAGLEV';
    size = DEFAULT_MAGLEV_TABLE_SIZE;
    if (maglev.has('tableSize')) {
      size = maglev.int('tableSize', { min: 2, max: MAX_MAGLEV_TABLE_SIZE });
      if (size !== undefined && !isPrime(size)) {
        maglev.report('tableSize', `must be a prime number (like 65537 or 131071), got ${size}`);
        size = undefined;
      }
    }
  }
  if (key === undefined || size === undefined || keys.length !== 1 || algorithms.length > 1) return undefined;
  return { key, algorithm, size };
}

export function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

function readConnectionPool(parent: Fields): ConnectionPool | undefined {
  const f = parent.object('connectionPool', ['tcp', 'http']);
  if (f === undefined) return undefined;
  f.oneOf(['tcp', 'http'], 'must set tcp or http (leave connectionPool out for the defaults)');
  const tcp = f.object('tcp', ['maxConnections', 'connectTimeout', 'idleTimeout'], { unsupported: ['tcpKeepalive', 'maxConnectionDuration'] });
  const http = f.object('http', ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'idleTimeout', 'http2KeepAlive', 'h2UpgradePolicy', 'useClientProtocol'], {
    unsupported: ['maxConcurrentStreams'],
  });
  // HTTP/2 PING keepalive: checked, accepted and ignored (upstream sessions close when idle instead).
  const keepAlive = http?.object('http2KeepAlive', ['interval', 'timeout']);
  if (keepAlive !== undefined) {
    durationMs(keepAlive, 'interval');
    durationMs(keepAlive, 'timeout');
  }
  // One idle timeout per pool: tcp.idleTimeout or http.idleTimeout, whichever is given.
  if (tcp?.has('idleTimeout') && http?.has('idleTimeout')) {
    http.report('idleTimeout', 'cannot be set together with tcp.idleTimeout (nodemesh has one idle timeout per connection pool): keep one of them');
  }
  // Istio: maxRequestsPerConnection 0 means unlimited, the same as leaving it out.
  const perConnection = http?.int('maxRequestsPerConnection', INT32);
  return strip({
    maxConnections: tcp?.int('maxConnections', POSITIVE),
    connectTimeoutMs: tcp && durationMs(tcp, 'connectTimeout'),
    idleTimeoutMs: (tcp && durationMs(tcp, 'idleTimeout')) ?? (http && durationMs(http, 'idleTimeout')),
    http1MaxPendingRequests: http?.int('http1MaxPendingRequests', POSITIVE),
    http2MaxRequests: http?.int('http2MaxRequests', POSITIVE),
    maxRequestsPerConnection: perConnection === 0 ? undefined : perConnection,
    maxRetries: http?.int('maxRetries', INT32),
    useClientProtocol: http !== undefined && bool(http, 'useClientProtocol') === true ? (true as const) : undefined,
    // DEFAULT is meshConfig's h2UpgradePolicy, which Istio ships as DO_NOT_UPGRADE.
    h2Upgrade: http?.choice('h2UpgradePolicy', H2_UPGRADE) === 'UPGRADE' ? (true as const) : undefined,
  });
}

const H2_UPGRADE = ['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'] as const;

/**
 * Envoy's defaults made explicit for the timings and percentages. The error counts are stored as given:
 * consecutive5xxErrors left out means Istio's default (5) and 0 disables it; consecutiveGatewayErrors is
 * off unless above 0.
 */
function readOutlierDetection(parent: Fields): OutlierDetection | undefined {
  const f = parent.object('outlierDetection', ['consecutive5xxErrors', 'consecutiveGatewayErrors', 'interval', 'baseEjectionTime', 'maxEjectionPercent', 'minHealthPercent'], {
    unsupported: ['consecutiveErrors', 'splitExternalLocalOriginErrors', 'consecutiveLocalOriginFailures'],
  });
  if (f === undefined) return undefined;
  return strip({
    consecutive5xxErrors: f.int('consecutive5xxErrors', INT32),
    consecutiveGatewayErrors: f.int('consecutiveGatewayErrors', INT32),
    intervalMs: durationMs(f, 'interval') ?? 10_000,
    baseEjectionTimeMs: durationMs(f, 'baseEjectionTime') ?? 30_000,
    maxEjectionPercent: f.int('maxEjectionPercent', { min: 0, max: 100 }) ?? 10,
    minHealthPercent: f.int('minHealthPercent', { min: 0, max: 100 }) ?? 0,
  });
}

function readSubsets(spec: Fields, ports: At<number>[], tc: TlsContext): Subset[] {
  const subsets: Subset[] = [];
  for (const item of spec.list('subsets') ?? []) {
    const s = Fields.open(spec.sink, item.path, item.value, ['name', 'labels', 'trafficPolicy']);
    if (s === undefined) continue;
    const name = s.string('name', {
      required: true,
      check: (n) => (DNS_LABEL.test(n) ? undefined : `"${n}" is not a valid subset name (lowercase letters, digits and '-', at most 63)`),
    });
    const labels = s.labelMap('labels') ?? {};
    const policy = s.has('trafficPolicy') ? readPolicy(s, 'trafficPolicy', ports, tc) : undefined;
    if (name !== undefined && subsets.some((x) => x.name === name)) s.report('name', `duplicate subset name "${name}"`);
    else if (name !== undefined) subsets.push(strip({ name, labels, trafficPolicy: policy?.policy, portLevel: policy?.portLevel ?? [] }));
  }
  return subsets;
}
