// Bad VirtualService, DestinationRule and LocalRateLimit documents: each problem names its field and
// says what is wrong, every problem is reported, and nothing is built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigIssue } from '../../../src/config/model';
import { loadText, serviceEntry } from './helpers';
import { FIRST, REVIEWS_DR, dr, rateLimit, reviewsVs, to, vs, withServices } from './traffic-helpers';

type Obj = Record<string, unknown>;

interface BadCase {
  readonly name: string;
  readonly docs: readonly Obj[];
  /** Exact field path of the issue. */
  readonly field: string;
  readonly message: string;
  /** Index among DOCS of the document the issue is on (default 0... or the last one, see below). */
  readonly doc?: number;
}

const H0 = 'spec.http[0]';
const M0 = `${H0}.match[0]`;
const R0 = `${H0}.route[0]`;
/** reviews' VirtualService with one route: FIELDS plus a route to reviews. */
const route = (fields: Obj): Obj[] => [REVIEWS_DR, reviewsVs({ ...to('reviews'), ...fields })];
const match = (m: Obj): Obj[] => route({ match: [m] });
const bucket = { maxTokens: 10, fillInterval: '1s' };
const lrl = (spec: Obj, ...more: Obj[]): Obj[] => [...more, rateLimit('rl', { host: 'reviews', tokenBucket: bucket, ...spec })];
const drSpec = (spec: Obj, meta: Obj = {}): Obj[] => [dr('reviews', { host: 'reviews', ...spec }, meta)];
const policy = (trafficPolicy: Obj): Obj[] => drSpec({ trafficPolicy });
const hash = (consistentHash: Obj): Obj[] => policy({ loadBalancer: { consistentHash } });
const KV = serviceEntry('kv', { hosts: ['kv.default.svc.cluster.local'], addresses: ['127.0.10.9'], ports: [{ number: 6379, name: 'tcp' }], endpoints: [{ address: '127.0.0.9' }] }, { labels: { 'nodemesh.io/dataplane': 'kernel' } });

const VS_CASES: readonly BadCase[] = [
  // Document shape.
  { name: 'hosts missing', docs: [vs('v', { http: [to('reviews')] })], field: 'spec.hosts', message: 'required field is missing' },
  { name: 'hosts empty', docs: [vs('v', { hosts: [], http: [to('reviews')] })], field: 'spec.hosts', message: 'must not be empty' },
  { name: 'host invalid', docs: [vs('v', { hosts: ['*'], http: [to('reviews')] })], field: 'spec.hosts[0]', message: 'is not a valid host' },
  { name: 'duplicate host', docs: [vs('v', { hosts: ['reviews', 'REVIEWS'], http: [to('reviews')] })], field: 'spec.hosts[1]', message: 'duplicate host reviews' },
  { name: 'no routes', docs: [vs('v', { hosts: ['reviews'] })], field: 'spec', message: 'must set http, tcp or tls routes' },
  { name: 'unknown field', docs: [reviewsVs({ rout: [] })], field: `${H0}.rout`, message: 'unknown field (did you mean "route"?)' },
  { name: 'unknown spec field', docs: [vs('v', { hosts: ['reviews'], htp: [] })], field: 'spec.htp', message: 'did you mean "http"' },
  { name: 'unknown destination field', docs: [reviewsVs({ route: [{ destination: { hostname: 'reviews' } }] })], field: `${R0}.destination.hostname`, message: 'unknown field' },
  // Istio features nodemesh does not implement.
  { name: 'gateway name', docs: [vs('v', { hosts: ['reviews'], gateways: ['Bad Name'], http: [to('reviews')] })], field: 'spec.gateways[0]', message: 'is not a gateway name' },
  { name: 'match gateways', docs: match({ gateways: ['gw'] }), field: `${M0}.gateways`, message: 'match entries for other gateways are not supported yet', doc: 1 },
  { name: 'overlapping wildcard hosts', docs: [vs('v', { hosts: ['*.shop', '*.a.shop'], http: [to('reviews')] })], field: 'spec.hosts[1]', message: '*.a.shop overlaps *.shop' },
  { name: 'unescaped % in a header value', docs: route({ headers: { request: { set: { 'x-a': '50% off' } } } }), field: `${H0}.headers.request.set["x-a"]`, message: 'unescaped "%" at position 2', doc: 1 },
  { name: 'header variable', docs: route({ headers: { response: { add: { 'x-peer': '%DOWNSTREAM_REMOTE_ADDRESS%' } } } }), field: `${H0}.headers.response.add["x-peer"]`, message: '%DOWNSTREAM_REMOTE_ADDRESS% is an Envoy header variable', doc: 1 },
  { name: ':authority per destination', docs: [reviewsVs({ route: [{ destination: { host: 'reviews' }, headers: { request: { set: { ':authority': 'x' } } } }] })], field: `${R0}.headers`, message: 'not supported per destination yet' },
  { name: ':authority and rewrite.authority', docs: route({ rewrite: { authority: 'a' }, headers: { request: { set: { ':authority': 'b' } } } }), field: `${H0}.headers`, message: 'cannot be used together with rewrite.authority', doc: 1 },
  { name: 'retries off with other fields', docs: route({ retries: { attempts: 0, perTryTimeout: '1s' } }), field: `${H0}.retries.perTryTimeout`, message: 'has no effect with attempts: 0', doc: 1 },
  { name: 'tls route without sniHosts', docs: [vs('v', { hosts: ['reviews'], tls: [{ match: [{ port: 9080 }], route: [{ destination: { host: 'reviews' } }] }] })], field: 'spec.tls[0].match[0]', message: 'sniHosts is required' },
  { name: 'delegate', docs: [reviewsVs({ delegate: { name: 'x' } })], field: `${H0}.delegate`, message: 'not supported' },
  { name: 'corsPolicy', docs: route({ corsPolicy: {} }), field: `${H0}.corsPolicy`, message: 'not supported', doc: 1 },
  { name: 'mirrorPercent', docs: route({ mirror: { host: 'ratings' }, mirrorPercent: 5 }), field: `${H0}.mirrorPercent`, message: 'not supported', doc: 1 },
  { name: 'uriRegexRewrite', docs: route({ rewrite: { uriRegexRewrite: { match: 'a', rewrite: 'b' } } }), field: `${H0}.rewrite.uriRegexRewrite`, message: 'not supported', doc: 1 },
  { name: 'retryRemoteLocalities', docs: route({ retries: { attempts: 1, retryRemoteLocalities: true } }), field: `${H0}.retries.retryRemoteLocalities`, message: 'not supported', doc: 1 },
  { name: 'derivePort', docs: [reviewsVs({ redirect: { derivePort: 'FROM_PROTOCOL_DEFAULT' } })], field: `${H0}.redirect.derivePort`, message: 'not supported' },
  { name: 'http2Error', docs: route({ fault: { abort: { http2Error: 'x', percentage: { value: 1 } } } }), field: `${H0}.fault.abort.http2Error`, message: 'not supported', doc: 1 },
  { name: 'statPrefix', docs: match({ statPrefix: 'x' }), field: `${M0}.statPrefix`, message: 'not supported', doc: 1 },
  {
    name: 'tcp sniHosts',
    docs: [vs('v', { hosts: ['multi.shop'], tcp: [{ match: [{ sniHosts: ['multi.shop'] }], route: [{ destination: { host: 'multi.shop', port: { number: 9000 } } }] }] })],
    field: 'spec.tcp[0].match[0].sniHosts',
    message: 'is a condition of tls routes (the TLS server name): move this route under tls',
  },
  // Actions.
  { name: 'no action', docs: [reviewsVs({ match: [{ uri: { prefix: '/' } }] })], field: H0, message: 'must set one of route, redirect, directResponse' },
  { name: 'route and redirect', docs: route({ redirect: { uri: '/x' } }), field: H0, message: 'must set only one of route, redirect, directResponse, got route and redirect', doc: 1 },
  { name: 'rewrite with redirect', docs: [reviewsVs({ redirect: { uri: '/x' }, rewrite: { uri: '/y' } })], field: `${H0}.rewrite`, message: 'cannot be used with redirect' },
  { name: 'retries with directResponse', docs: [reviewsVs({ directResponse: { status: 200 }, retries: { attempts: 1 } })], field: `${H0}.retries`, message: 'cannot be used with directResponse' },
  { name: 'redirect code 300', docs: [reviewsVs({ redirect: { uri: '/x', redirectCode: 300 } })], field: `${H0}.redirect.redirectCode`, message: 'must be one of 301, 302, 303, 307, 308, got 300' },
  { name: 'redirect without target', docs: [reviewsVs({ redirect: { redirectCode: 302 } })], field: `${H0}.redirect`, message: 'must set at least one of uri, authority, scheme, port' },
  { name: 'direct status 100', docs: [reviewsVs({ directResponse: { status: 100 } })], field: `${H0}.directResponse.status`, message: 'must be between 200 and 599, got 100' },
  { name: 'direct status missing', docs: [reviewsVs({ directResponse: {} })], field: `${H0}.directResponse.status`, message: 'required field is missing' },
  { name: 'direct body not base64', docs: [reviewsVs({ directResponse: { status: 200, body: { bytes: 'not base64!' } } })], field: `${H0}.directResponse.body.bytes`, message: 'is not valid base64' },
  { name: 'direct body binary', docs: [reviewsVs({ directResponse: { status: 200, body: { bytes: '//79' } } })], field: `${H0}.directResponse.body.bytes`, message: 'not UTF-8 text' },
  { name: 'direct body both', docs: [reviewsVs({ directResponse: { status: 200, body: { string: 'a', bytes: 'YQ==' } } })], field: `${H0}.directResponse.body`, message: 'must set exactly one of string, bytes' },
  { name: 'rewrite empty', docs: route({ rewrite: {} }), field: `${H0}.rewrite`, message: 'must set uri or authority', doc: 1 },
  // Weights.
  { name: 'all weights 0', docs: [reviewsVs({ route: [{ destination: { host: 'reviews' }, weight: 0 }, { destination: { host: 'ratings' } }] })], field: `${H0}.route`, message: 'all weights are 0' },
  { name: 'negative weight', docs: [reviewsVs({ route: [{ destination: { host: 'reviews' }, weight: -1 }, { destination: { host: 'ratings' }, weight: 101 }] })], field: `${R0}.weight`, message: 'must be between 0 and 2147483647, got -1' },
  { name: 'fractional weight', docs: [reviewsVs({ route: [{ destination: { host: 'reviews' }, weight: 50.5 }, { destination: { host: 'ratings' }, weight: 49.5 }] })], field: `${R0}.weight`, message: 'must be an integer' },
  { name: 'empty route', docs: [reviewsVs({ route: [] })], field: `${H0}.route`, message: 'must not be empty' },
  {
    name: 'tcp weights all 0',
    docs: [vs('v', { hosts: ['multi.shop'], tcp: [{ route: [{ destination: { host: 'multi.shop', port: { number: 9000 } }, weight: 0 }, { destination: { host: 'ratings' }, weight: 0 }] }] })],
    field: 'spec.tcp[0].route',
    message: 'all weights are 0',
  },
  // Matches.
  { name: 'regex unclosed group', docs: match({ uri: { regex: '(a' } }), field: `${M0}.uri.regex`, message: 'missing closing )', doc: 1 },
  { name: 'regex backreference', docs: match({ headers: { 'x-a': { regex: '(a)\\1' } } }), field: `${M0}.headers["x-a"].regex`, message: 'backreferences are not supported', doc: 1 },
  { name: 'regex lookahead', docs: match({ queryParams: { q: { regex: 'a(?=b)' } } }), field: `${M0}.queryParams.q.regex`, message: 'lookahead', doc: 1 },
  { name: 'regex empty', docs: match({ authority: { regex: '' } }), field: `${M0}.authority.regex`, message: 'regex must not be empty', doc: 1 },
  { name: 'two match kinds', docs: match({ uri: { exact: '/a', prefix: '/a' } }), field: `${M0}.uri`, message: 'must set only one of exact, prefix, regex, got exact and prefix', doc: 1 },
  { name: 'uri {}', docs: match({ uri: {} }), field: `${M0}.uri`, message: 'must set one of exact, prefix, regex', doc: 1 },
  { name: 'empty prefix', docs: match({ uri: { prefix: '' } }), field: `${M0}.uri.prefix`, message: 'prefix must not be empty', doc: 1 },
  { name: 'unknown match kind', docs: match({ method: { exactly: 'GET' } }), field: `${M0}.method.exactly`, message: 'unknown field (did you mean "exact"?)', doc: 1 },
  { name: 'queryParams prefix', docs: match({ queryParams: { q: { prefix: 'a' } } }), field: `${M0}.queryParams.q.prefix`, message: 'prefix matching is not supported here (use exact or regex)', doc: 1 },
  { name: 'bad header name', docs: match({ headers: { 'x a': { exact: 'b' } } }), field: `${M0}.headers["x a"]`, message: 'is not a valid header name', doc: 1 },
  { name: 'duplicate header name', docs: match({ headers: { 'X-A': {}, 'x-a': {} } }), field: `${M0}.headers["x-a"]`, message: 'duplicate name "x-a"', doc: 1 },
  { name: 'match port 0', docs: match({ port: 0 }), field: `${M0}.port`, message: 'between 1 and 65535', doc: 1 },
  { name: 'ignoreUriCase not a boolean', docs: match({ ignoreUriCase: 'yes' }), field: `${M0}.ignoreUriCase`, message: 'must be true or false', doc: 1 },
  { name: 'sourceNamespace invalid', docs: match({ sourceNamespace: 'A_B' }), field: `${M0}.sourceNamespace`, message: 'not a valid namespace', doc: 1 },
  // Durations.
  { name: 'negative timeout', docs: route({ timeout: '-1s' }), field: `${H0}.timeout`, message: '"-1s" is negative', doc: 1 },
  { name: 'timeout without unit', docs: route({ timeout: '10' }), field: `${H0}.timeout`, message: 'a unit is required', doc: 1 },
  { name: 'timeout a number', docs: route({ timeout: 10 }), field: `${H0}.timeout`, message: 'must be a duration string like "10s"', doc: 1 },
  { name: 'sub-millisecond timeout', docs: route({ timeout: '1.5ms' }), field: `${H0}.timeout`, message: 'finer than a millisecond', doc: 1 },
  { name: 'perTryTimeout 0', docs: route({ retries: { attempts: 2, perTryTimeout: '0s' } }), field: `${H0}.retries.perTryTimeout`, message: 'must be greater than 0', doc: 1 },
  // Retries and faults.
  { name: 'retries without attempts', docs: route({ retries: { perTryTimeout: '1s' } }), field: `${H0}.retries.attempts`, message: 'required field is missing', doc: 1 },
  { name: 'negative attempts', docs: route({ retries: { attempts: -1 } }), field: `${H0}.retries.attempts`, message: 'between 0 and 100', doc: 1 },
  { name: 'unknown retryOn', docs: route({ retries: { attempts: 1, retryOn: '5xx,sometimes' } }), field: `${H0}.retries.retryOn`, message: 'unknown condition "sometimes"', doc: 1 },
  { name: 'unsupported retryOn', docs: route({ retries: { attempts: 1, retryOn: 'retriable-headers' } }), field: `${H0}.retries.retryOn`, message: 'condition "retriable-headers" is not supported', doc: 1 },
  { name: 'retryOn status 600', docs: route({ retries: { attempts: 1, retryOn: '600' } }), field: `${H0}.retries.retryOn`, message: 'status code 600 is not between 100 and 599', doc: 1 },
  { name: 'retryOn empty item', docs: route({ retries: { attempts: 1, retryOn: '5xx,,reset' } }), field: `${H0}.retries.retryOn`, message: 'has an empty condition', doc: 1 },
  { name: 'empty fault', docs: route({ fault: {} }), field: `${H0}.fault`, message: 'must set delay or abort', doc: 1 },
  { name: 'delay without percentage', docs: route({ fault: { delay: { fixedDelay: '1s' } } }), field: `${H0}.fault.delay.percentage`, message: 'required field is missing', doc: 1 },
  { name: 'delay without fixedDelay', docs: route({ fault: { delay: { percentage: { value: 1 } } } }), field: `${H0}.fault.delay.fixedDelay`, message: 'required field is missing', doc: 1 },
  { name: 'percentage over 100', docs: route({ fault: { abort: { httpStatus: 500, percentage: { value: 100.5 } } } }), field: `${H0}.fault.abort.percentage.value`, message: 'between 0 and 100, got 100.5', doc: 1 },
  { name: 'abort both statuses', docs: route({ fault: { abort: { httpStatus: 500, grpcStatus: 'INTERNAL', percentage: { value: 1 } } } }), field: `${H0}.fault.abort`, message: 'must set only one of httpStatus, grpcStatus', doc: 1 },
  { name: 'abort no status', docs: route({ fault: { abort: { percentage: { value: 1 } } } }), field: `${H0}.fault.abort`, message: 'must set httpStatus or grpcStatus', doc: 1 },
  { name: 'abort status 600', docs: route({ fault: { abort: { httpStatus: 600, percentage: { value: 1 } } } }), field: `${H0}.fault.abort.httpStatus`, message: 'between 200 and 599', doc: 1 },
  { name: 'bad grpcStatus name', docs: route({ fault: { abort: { grpcStatus: 'NOPE', percentage: { value: 1 } } } }), field: `${H0}.fault.abort.grpcStatus`, message: 'must be a gRPC status name (like UNAVAILABLE) or code 0..16, got "NOPE"', doc: 1 },
  { name: 'grpcStatus 17', docs: route({ fault: { abort: { grpcStatus: 17, percentage: { value: 1 } } } }), field: `${H0}.fault.abort.grpcStatus`, message: 'got 17', doc: 1 },
  // Mirrors.
  { name: 'mirror and mirrors', docs: route({ mirror: { host: 'ratings' }, mirrors: [{ destination: { host: 'ratings' } }] }), field: `${H0}.mirrors`, message: 'cannot be used together with mirror', doc: 1 },
  { name: 'mirrorPercentage alone', docs: route({ mirrorPercentage: { value: 5 } }), field: `${H0}.mirrorPercentage`, message: 'has no effect without mirror', doc: 1 },
  { name: 'mirror to nowhere', docs: route({ mirror: { host: 'nowhere' } }), field: `${H0}.mirror.host`, message: 'host nowhere matches no ServiceEntry host', doc: 1 },
  // Names and reachability.
  { name: 'duplicate route names', docs: [reviewsVs({ name: 'a', match: [{ uri: { prefix: '/a' } }], ...to('reviews') }, { name: 'a', ...to('reviews') })], field: 'spec.http[1].name', message: 'duplicate route name "a"' },
  { name: 'generated name taken', docs: [reviewsVs({ name: 'reviews.1', match: [{ uri: { prefix: '/a' } }], ...to('reviews') }, to('reviews'))], field: 'spec.http[1].name', message: 'duplicate route name "reviews.1"' },
  // Resolution against services and DestinationRules.
  { name: 'host of no service', docs: [vs('v', { hosts: ['reviews', 'nothing.example.com'], http: [to('reviews')] })], field: 'spec.hosts[1]', message: 'host nothing.example.com matches no ServiceEntry host; its routes would never be used' },
  { name: 'short host in the wrong namespace', docs: [vs('v', { hosts: ['multi'], http: [to('multi.shop')] })], field: 'spec.hosts[0]', message: 'matches no ServiceEntry host' },
  { name: 'destination of no service', docs: [reviewsVs(to('nothing'))], field: `${R0}.destination.host`, message: 'host nothing matches no ServiceEntry host' },
  { name: 'wildcard destination', docs: [reviewsVs(to('*.example.com'))], field: `${R0}.destination.host`, message: 'wildcards are not supported here' },
  { name: 'destination port not on the service', docs: [reviewsVs(to('reviews', { port: { number: 8080 } }))], field: `${R0}.destination.port.number`, message: 'service default/reviews has no port 8080 (ports: 9080)' },
  { name: 'destination port needed', docs: [reviewsVs(to('multi.shop'))], field: `${R0}.destination.port`, message: 'is required: service shop/multi has several ports (80, 9000)' },
  { name: 'unknown subset', docs: [REVIEWS_DR, reviewsVs(to('reviews', { subset: 'v3' }))], field: `${R0}.destination.subset`, message: 'unknown subset "v3" (DestinationRule default/reviews defines: v1, v2)', doc: 1 },
  { name: 'subset without a DestinationRule', docs: [reviewsVs(to('reviews', { subset: 'v1' }))], field: `${R0}.destination.subset`, message: 'unknown subset "v1": no DestinationRule defines subsets for service default/reviews' },
  { name: 'mirror subset unknown', docs: route({ mirrors: [{ destination: { host: 'reviews', subset: 'v9' } }] }), field: `${H0}.mirrors[0].destination.subset`, message: 'unknown subset "v9"', doc: 1 },
  { name: 'kernel service', docs: [vs('kv', { hosts: ['kv'], tcp: [{ route: [{ destination: { host: 'kv' } }] }] }), KV], field: 'spec.hosts[0]', message: 'service default/kv uses the kernel dataplane', doc: 0 },
  { name: 'duplicate VirtualService', docs: [reviewsVs(to('reviews')), reviewsVs(to('ratings'))], field: 'metadata.name', message: 'duplicate VirtualService default/reviews', doc: 1 },
];

const DR_CASES: readonly BadCase[] = [
  { name: 'host missing', docs: [dr('d', {})], field: 'spec.host', message: 'required field is missing' },
  { name: 'host of no service', docs: drSpec({ host: 'nothing' }), field: 'spec.host', message: 'host nothing matches no ServiceEntry host; this DestinationRule would never apply' },
  { name: 'wildcard host of no service', docs: drSpec({ host: '*.nothing.example' }), field: 'spec.host', message: 'host *.nothing.example matches no ServiceEntry host; this DestinationRule would never apply' },
  { name: 'workloadSelector', docs: drSpec({ workloadSelector: { matchLabels: { a: 'b' } } }), field: 'spec.workloadSelector', message: 'not supported' },
  { name: 'kernel service', docs: [dr('kd', { host: 'kv' }), KV], field: 'spec.host', message: 'service default/kv uses the kernel dataplane', doc: 0 },
  { name: 'tls mode unknown', docs: policy({ tls: { mode: 'STRICT' } }), field: 'spec.trafficPolicy.tls.mode', message: 'must be one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL, got "STRICT"' },
  { name: 'tls MUTUAL without its key', docs: policy({ tls: { mode: 'MUTUAL', clientCertificate: '/c.pem' } }), field: 'spec.trafficPolicy.tls.privateKey', message: 'is required with mode MUTUAL' },
  { name: 'unknown policy field', docs: policy({ loadBalancr: {} }), field: 'spec.trafficPolicy.loadBalancr', message: 'did you mean "loadBalancer"' },
  { name: 'unknown simple balancer', docs: policy({ loadBalancer: { simple: 'FASTEST' } }), field: 'spec.trafficPolicy.loadBalancer.simple', message: 'must be one of ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN, RANDOM, PASSTHROUGH, got "FASTEST"' },
  { name: 'simple PEAK_EWMA', docs: policy({ loadBalancer: { simple: 'PEAK_EWMA' } }), field: 'spec.trafficPolicy.loadBalancer.simple', message: 'set the annotation nodemesh.io/load-balancer: PEAK_EWMA instead' },
  { name: 'simple and consistentHash', docs: policy({ loadBalancer: { simple: 'RANDOM', consistentHash: { useSourceIp: true } } }), field: 'spec.trafficPolicy.loadBalancer', message: 'must set only one of simple, consistentHash' },
  { name: 'empty loadBalancer', docs: policy({ loadBalancer: {} }), field: 'spec.trafficPolicy.loadBalancer', message: 'must set simple or consistentHash' },
  { name: 'hash without key', docs: hash({ ringHash: {} }), field: 'spec.trafficPolicy.loadBalancer.consistentHash', message: 'must set one of httpHeaderName, httpCookie' },
  { name: 'hash with two keys', docs: hash({ httpHeaderName: 'x', useSourceIp: true }), field: 'spec.trafficPolicy.loadBalancer.consistentHash', message: 'got httpHeaderName and useSourceIp' },
  { name: 'useSourceIp false', docs: hash({ useSourceIp: false }), field: 'spec.trafficPolicy.loadBalancer.consistentHash.useSourceIp', message: 'must be true' },
  { name: 'ringHash and maglev', docs: hash({ useSourceIp: true, ringHash: {}, maglev: {} }), field: 'spec.trafficPolicy.loadBalancer.consistentHash', message: 'must set only one of ringHash, maglev, minimumRingSize' },
  { name: 'non-prime tableSize', docs: hash({ useSourceIp: true, maglev: { tableSize: 1000 } }), field: 'spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize', message: 'must be a prime number (like 65537 or 131071), got 1000' },
  { name: 'ring size 0', docs: hash({ useSourceIp: true, ringHash: { minimumRingSize: 0 } }), field: 'spec.trafficPolicy.loadBalancer.consistentHash.ringHash.minimumRingSize', message: 'between 1 and 8388608' },
  { name: 'cookie without name', docs: hash({ httpCookie: { ttl: '1s' } }), field: 'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name', message: 'required field is missing' },
  { name: 'cookie negative ttl', docs: hash({ httpCookie: { name: 'a', ttl: '-5s' } }), field: 'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl', message: 'is negative' },
  { name: 'maxConnections 0', docs: policy({ connectionPool: { tcp: { maxConnections: 0 } } }), field: 'spec.trafficPolicy.connectionPool.tcp.maxConnections', message: 'between 1 and' },
  { name: 'connectTimeout 0', docs: policy({ connectionPool: { tcp: { connectTimeout: '0s' } } }), field: 'spec.trafficPolicy.connectionPool.tcp.connectTimeout', message: 'must be greater than 0' },
  { name: 'two idle timeouts', docs: policy({ connectionPool: { tcp: { idleTimeout: '1m' }, http: { idleTimeout: '2m' } } }), field: 'spec.trafficPolicy.connectionPool.http.idleTimeout', message: 'cannot be set together with tcp.idleTimeout' },
  { name: 'tcpKeepalive', docs: policy({ connectionPool: { tcp: { tcpKeepalive: { time: '1s' } } } }), field: 'spec.trafficPolicy.connectionPool.tcp.tcpKeepalive', message: 'not supported' },
  { name: 'h2UpgradePolicy unknown', docs: policy({ connectionPool: { http: { h2UpgradePolicy: 'ALWAYS' } } }), field: 'spec.trafficPolicy.connectionPool.http.h2UpgradePolicy', message: 'must be one of DEFAULT, DO_NOT_UPGRADE, UPGRADE, got "ALWAYS"' },
  { name: 'useClientProtocol not a boolean', docs: policy({ connectionPool: { http: { useClientProtocol: 'yes' } } }), field: 'spec.trafficPolicy.connectionPool.http.useClientProtocol', message: 'must be true or false' },
  { name: 'maxConcurrentStreams', docs: policy({ connectionPool: { http: { maxConcurrentStreams: 10 } } }), field: 'spec.trafficPolicy.connectionPool.http.maxConcurrentStreams', message: 'not supported' },
  { name: 'outlier interval negative', docs: policy({ outlierDetection: { interval: '-10s' } }), field: 'spec.trafficPolicy.outlierDetection.interval', message: 'is negative' },
  { name: 'outlier baseEjectionTime malformed', docs: policy({ outlierDetection: { baseEjectionTime: '30 seconds' } }), field: 'spec.trafficPolicy.outlierDetection.baseEjectionTime', message: 'is not a duration' },
  { name: 'maxEjectionPercent 101', docs: policy({ outlierDetection: { maxEjectionPercent: 101 } }), field: 'spec.trafficPolicy.outlierDetection.maxEjectionPercent', message: 'between 0 and 100' },
  { name: 'consecutiveErrors', docs: policy({ outlierDetection: { consecutiveErrors: 5 } }), field: 'spec.trafficPolicy.outlierDetection.consecutiveErrors', message: 'not supported' },
  { name: 'port-level port missing', docs: policy({ portLevelSettings: [{ loadBalancer: { simple: 'RANDOM' } }] }), field: 'spec.trafficPolicy.portLevelSettings[0].port', message: 'required field is missing' },
  { name: 'port-level duplicate port', docs: policy({ portLevelSettings: [{ port: { number: 9080 } }, { port: { number: 9080 } }] }), field: 'spec.trafficPolicy.portLevelSettings[1].port.number', message: 'duplicate port 9080' },
  { name: 'port-level port not on the service', docs: policy({ portLevelSettings: [{ port: { number: 81 } }] }), field: 'spec.trafficPolicy.portLevelSettings[0].port.number', message: 'service default/reviews has no port 81 (ports: 9080)' },
  { name: 'subset port-level port not on the service', docs: drSpec({ subsets: [{ name: 'a', trafficPolicy: { portLevelSettings: [{ port: { number: 81 } }] } }] }), field: 'spec.subsets[0].trafficPolicy.portLevelSettings[0].port.number', message: 'has no port 81' },
  { name: 'subset name missing', docs: drSpec({ subsets: [{ labels: { a: 'b' } }] }), field: 'spec.subsets[0].name', message: 'required field is missing' },
  { name: 'subset name invalid', docs: drSpec({ subsets: [{ name: 'V1' }] }), field: 'spec.subsets[0].name', message: 'not a valid subset name' },
  { name: 'duplicate subset', docs: drSpec({ subsets: [{ name: 'v1' }, { name: 'v1', labels: { a: 'b' } }] }), field: 'spec.subsets[1].name', message: 'duplicate subset name "v1"' },
  { name: 'annotation value', docs: drSpec({}, { annotations: { 'nodemesh.io/load-balancer': 'ewma' } }), field: 'metadata.annotations["nodemesh.io/load-balancer"]', message: 'must be PEAK_EWMA, got "ewma"' },
  {
    name: 'annotation and loadBalancer',
    docs: drSpec({ trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }, { annotations: { 'nodemesh.io/load-balancer': 'PEAK_EWMA' } }),
    field: 'metadata.annotations["nodemesh.io/load-balancer"]',
    message: 'conflicts with spec.trafficPolicy.loadBalancer',
  },
  { name: 'unknown nodemesh annotation', docs: drSpec({}, { annotations: { 'nodemesh.io/loadbalancer': 'PEAK_EWMA' } }), field: 'metadata.annotations["nodemesh.io/loadbalancer"]', message: 'unknown nodemesh annotation (known here: nodemesh.io/load-balancer)' },
];

const LRL_CASES: readonly BadCase[] = [
  { name: 'spec missing', docs: [{ apiVersion: 'nodemesh.io/v1alpha1', kind: 'LocalRateLimit', metadata: { name: 'rl' } }], field: 'spec', message: 'required field is missing' },
  { name: 'host missing', docs: [rateLimit('rl', { tokenBucket: bucket })], field: 'spec.host', message: 'required field is missing' },
  { name: 'tokenBucket missing', docs: [rateLimit('rl', { host: 'reviews' })], field: 'spec.tokenBucket', message: 'required field is missing' },
  { name: 'maxTokens 0', docs: lrl({ tokenBucket: { maxTokens: 0, fillInterval: '1s' } }), field: 'spec.tokenBucket.maxTokens', message: 'between 1 and' },
  { name: 'tokensPerFill 0', docs: lrl({ tokenBucket: { maxTokens: 1, tokensPerFill: 0, fillInterval: '1s' } }), field: 'spec.tokenBucket.tokensPerFill', message: 'between 1 and' },
  { name: 'fillInterval missing', docs: lrl({ tokenBucket: { maxTokens: 1 } }), field: 'spec.tokenBucket.fillInterval', message: 'required field is missing' },
  { name: 'fillInterval 0', docs: lrl({ tokenBucket: { maxTokens: 1, fillInterval: '0s' } }), field: 'spec.tokenBucket.fillInterval', message: 'must be greater than 0' },
  { name: 'unknown field', docs: lrl({ tokenBuckets: {} }), field: 'spec.tokenBuckets', message: 'did you mean "tokenBucket"' },
  { name: 'perKey both', docs: lrl({ perKey: { sourcePrincipal: true, header: 'x' } }), field: 'spec.perKey', message: 'must set exactly one of sourcePrincipal, header' },
  { name: 'perKey none', docs: lrl({ perKey: {} }), field: 'spec.perKey', message: 'must set exactly one of sourcePrincipal, header' },
  { name: 'perKey bad header', docs: lrl({ perKey: { header: 'a b' } }), field: 'spec.perKey.header', message: 'is not a valid header name' },
  { name: 'host of no service', docs: lrl({ host: 'nothing' }), field: 'spec.host', message: 'host nothing matches no ServiceEntry host; this limit would never apply' },
  { name: 'port not on the service', docs: lrl({ port: 80 }), field: 'spec.port', message: 'service default/reviews has no port 80' },
  { name: 'unknown route', docs: lrl({ route: 'nope' }, reviewsVs({ name: 'main', ...to('reviews') })), field: 'spec.route', message: 'unknown route "nope": VirtualService default/reviews has http routes "main"', doc: 1 },
  { name: 'route without a VirtualService', docs: lrl({ route: 'main' }), field: 'spec.route', message: 'no VirtualService routes service default/reviews, so route "main" never applies' },
  { name: 'kernel service', docs: [...lrl({ host: 'kv' }), KV], field: 'spec.host', message: 'service default/kv uses the kernel dataplane' },
  { name: 'duplicate name', docs: [...lrl({}), ...lrl({})], field: 'metadata.name', message: 'duplicate LocalRateLimit default/rl', doc: 1 },
];

function describeIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `  [doc ${i.document}] ${i.field ?? '-'}: ${i.message}`).join('\n');
}

for (const [kind, cases] of [['VirtualService', VS_CASES], ['DestinationRule', DR_CASES], ['LocalRateLimit', LRL_CASES]] as const) {
  for (const c of cases) {
    test(`${kind} rejects: ${c.name}`, () => {
      const r = loadText(withServices(...c.docs));
      assert.equal(r.ok, false, 'expected the config to be rejected');
      if (r.ok) return;
      const document = FIRST + (c.doc ?? 0);
      const match = r.issues.find((i) => i.field === c.field && i.message.includes(c.message) && i.document === document);
      assert.ok(match, `no issue at [doc ${document}] ${c.field} with "${c.message}" in:\n${describeIssues(r.issues)}`);
      assert.equal(match.kind, kind);
    });
  }
}

test('every problem of every traffic document is reported, with kind and namespace/name', () => {
  const r = loadText(
    withServices(
      reviewsVs({ route: [{ destination: { host: 'reviews' }, weight: 0 }, { destination: { host: 'ratings' }, weight: 0 }], timeout: '-1s' }),
      dr('ratings', { host: 'ratings', trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 100 } } } } }, { namespace: 'default' }),
      rateLimit('rl', { host: 'nothing', tokenBucket: { maxTokens: 0, fillInterval: '1s' } }),
    ),
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.issues.map((i) => [i.document - FIRST, i.kind, i.name, i.field]),
    [
      [0, 'VirtualService', 'default/reviews', `${H0}.route`],
      [0, 'VirtualService', 'default/reviews', `${H0}.timeout`],
      [1, 'DestinationRule', 'default/ratings', 'spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize'],
      [2, 'LocalRateLimit', 'default/rl', 'spec.tokenBucket.maxTokens'],
    ],
  );
});

test('traffic documents inside a kind: List report items[N] paths', () => {
  const list = { apiVersion: 'v1', kind: 'List', items: [REVIEWS_DR, reviewsVs(to('reviews', { subset: 'v7' }))] };
  const r = loadText(withServices(list));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.issues.map((i) => [i.field, i.kind]),
    [[`items[1].${R0}.destination.subset`, 'VirtualService']],
  );
});
