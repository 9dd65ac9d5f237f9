// Valid VirtualService, DestinationRule and LocalRateLimit documents and the TrafficConfig they build:
// defaults made explicit, hosts resolved to services, subsets and routes checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Destination, DestinationRule, HttpRoute, TrafficConfig, VirtualService } from '../../../src/config/traffic';
import { docs, echoSpec, loadText, serviceEntry } from './helpers';
import { REVIEWS_DR, dr, rateLimit, reviewsVs, to, vs, withServices } from './traffic-helpers';

type Obj = Record<string, unknown>;

function traffic(...objects: Obj[]): TrafficConfig {
  const r = loadText(withServices(...objects));
  if (!r.ok) throw new Error(`expected a valid config, got:\n${r.issues.map((i) => `  [doc ${i.document}] ${i.field}: ${i.message}`).join('\n')}`);
  assert.ok(r.config.traffic, 'expected a traffic config');
  return r.config.traffic;
}

const dest = (host: string, service: string, more: Partial<Destination> = {}): Destination => ({ host, service, ...more });
const only = (destination: Destination): HttpRoute['route'] => [{ destination, weight: 100 }];
const REVIEWS = 'default/reviews';
const RATINGS = 'default/ratings';

const reviewsVsModel = (...http: HttpRoute[]): VirtualService => ({ name: 'reviews', namespace: 'default', services: [REVIEWS], http, tcp: [] });

/** The http routes of the only VirtualService of a config with SERVICES and ROUTES for reviews. */
function routesOf(...routes: Obj[]): readonly HttpRoute[] {
  const t = traffic(REVIEWS_DR, reviewsVs(...routes));
  assert.equal(t.virtualServices.length, 1);
  return t.virtualServices[0]?.http ?? [];
}

test('a config without traffic documents has no traffic config', () => {
  const r = loadText(docs(serviceEntry('echo', echoSpec())));
  assert.ok(r.ok);
  assert.equal(r.config.traffic, undefined);
});

test('a VirtualService with every http feature builds the documented model', () => {
  const t = traffic(
    REVIEWS_DR,
    reviewsVs(
      {
        name: 'main',
        match: [
          {
            name: 'api',
            uri: { prefix: '/api' },
            method: { exact: 'GET' },
            authority: { regex: 'reviews(:[0-9]+)?' },
            scheme: { exact: 'http' },
            headers: { 'X-User': { exact: 'jason' }, 'x-present': {} },
            withoutHeaders: { 'x-canary': { prefix: 'no' } },
            queryParams: { q: { regex: 'a.*' }, debug: { exact: '' } },
            ignoreUriCase: true,
            port: 9080,
            sourceLabels: { app: 'web' },
            sourceNamespace: 'front',
          },
        ],
        route: [
          { destination: { host: 'reviews', subset: 'v1' }, weight: 80 },
          { destination: { host: 'reviews', subset: 'v2', port: { number: 9080 } }, weight: 20, headers: { request: { set: { 'X-A': 'b' } } } },
        ],
        timeout: '1.5s',
        retries: { attempts: 3, perTryTimeout: '250ms', retryOn: '5xx,503,reset, 504' },
        fault: { delay: { fixedDelay: '2s', percentage: { value: 0.5 } }, abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 10 } } },
        mirror: { host: 'ratings' },
        mirrorPercentage: { value: 5 },
        rewrite: { uri: '/v2', authority: 'reviews-v2' },
        headers: { request: { add: { 'X-Trace': '1' }, remove: ['Cookie'] }, response: { set: { 'cache-control': 'no-store' } } },
      },
      to('ratings'),
    ),
  );
  const main: HttpRoute = {
    name: 'main',
    match: [
      {
        name: 'api',
        uri: { prefix: '/api' },
        method: { exact: 'GET' },
        authority: { regex: 'reviews(:[0-9]+)?' },
        scheme: { exact: 'http' },
        headers: { 'x-user': { exact: 'jason' }, 'x-present': { regex: '.*' } },
        withoutHeaders: { 'x-canary': { prefix: 'no' } },
        queryParams: { q: { regex: 'a.*' }, debug: { exact: '' } },
        ignoreUriCase: true,
        port: 9080,
        sourceLabels: { app: 'web' },
        sourceNamespace: 'front',
      },
    ],
    route: [
      { destination: dest('reviews', REVIEWS, { subset: 'v1' }), weight: 80 },
      { destination: dest('reviews', REVIEWS, { subset: 'v2', port: 9080 }), weight: 20, headers: { request: { set: { 'x-a': 'b' } } } },
    ],
    rewrite: { uri: '/v2', authority: 'reviews-v2' },
    timeoutMs: 1500,
    retries: {
      attempts: 3,
      perTryTimeoutMs: 250,
      retryOn: ['5xx', 'retriable-status-codes', 'reset'],
      retriableStatusCodes: [503, 504],
      backoffBaseMs: 25,
      backoffMaxMs: 250,
    },
    fault: { delay: { fixedDelayMs: 2000, percent: 0.5 }, abort: { grpcStatus: 14, percent: 10 } },
    mirrors: [{ destination: dest('ratings', RATINGS), percent: 5 }],
    headers: { request: { add: { 'x-trace': '1' }, remove: ['cookie'] }, response: { set: { 'cache-control': 'no-store' } } },
  };
  const fallback: HttpRoute = { name: 'reviews.1', match: [], route: only(dest('ratings', RATINGS)), mirrors: [] };
  const rule: DestinationRule = {
    name: 'reviews',
    namespace: 'default',
    host: 'reviews',
    service: REVIEWS,
    portLevel: [],
    subsets: [
      { name: 'v1', labels: { version: 'v1' }, portLevel: [] },
      { name: 'v2', labels: { version: 'v2' }, portLevel: [] },
    ],
  };
  assert.deepEqual(t, { virtualServices: [reviewsVsModel(main, fallback)], destinationRules: [rule], rateLimits: [] });
});

test('http route defaults: Istio retry conditions, timeout 0s kept as 0 (none), 301 redirects, mirrors at 100 %', () => {
  const routes = routesOf(
    { match: [{ uri: { exact: '/old' } }], redirect: { uri: '/new' } },
    { match: [{ uri: { exact: '/moved' } }], redirect: { authority: 'ratings', scheme: 'https', port: 8443, redirectCode: 308 } },
    { match: [{ uri: { exact: '/teapot' } }], directResponse: { status: 418, body: { string: 'short and stout' } } },
    { match: [{ uri: { exact: '/bytes' } }], directResponse: { status: 200, body: { bytes: Buffer.from('héllo').toString('base64') } } },
    { match: [{ uri: { exact: '/empty' } }], directResponse: { status: 204 } },
    { match: [{ uri: { prefix: '/r' } }], ...to('reviews'), retries: { attempts: 2 }, timeout: '0s' },
    { match: [{ uri: { prefix: '/m' } }], ...to('reviews'), mirrors: [{ destination: { host: 'ratings' } }, { destination: { host: 'api.example.com' }, percentage: { value: 12.5 } }] },
    { ...to('reviews', { subset: 'v2' }), mirror: { host: 'ratings', port: { number: 8080 } }, fault: { abort: { httpStatus: 503, percentage: { value: 100 } } } },
  );
  assert.deepEqual(routes[0], { name: 'reviews.0', match: [{ uri: { exact: '/old' } }], redirect: { uri: '/new', status: 301 }, mirrors: [] });
  assert.deepEqual(routes[1]?.redirect, { authority: 'ratings', scheme: 'https', port: 8443, status: 308 });
  assert.deepEqual(routes[2]?.directResponse, { status: 418, body: 'short and stout' });
  assert.deepEqual(routes[3]?.directResponse, { status: 200, body: 'héllo' });
  assert.deepEqual(routes[4]?.directResponse, { status: 204 });
  assert.deepEqual(routes[5], {
    name: 'reviews.5',
    match: [{ uri: { prefix: '/r' } }],
    route: only(dest('reviews', REVIEWS)),
    timeoutMs: 0,
    retries: {
      attempts: 2,
      retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
      retriableStatusCodes: [503],
      backoffBaseMs: 25,
      backoffMaxMs: 250,
    },
    mirrors: [],
  });
  assert.deepEqual(routes[6]?.mirrors, [
    { destination: dest('ratings', RATINGS), percent: 100 },
    { destination: dest('api.example.com', 'default/api'), percent: 12.5 },
  ]);
  assert.deepEqual(routes[7]?.mirrors, [{ destination: dest('ratings', RATINGS, { port: 8080 }), percent: 100 }]);
  assert.deepEqual(routes[7]?.fault, { abort: { httpStatus: 503, percent: 100 } });
  assert.deepEqual(routes[7]?.route, only(dest('reviews', REVIEWS, { subset: 'v2' })));
});

test('retryOn: gRPC conditions, and status codes alone imply retriable-status-codes', () => {
  const routes = routesOf(
    { match: [{ uri: { prefix: '/a' } }], ...to('reviews'), retries: { attempts: 1, retryOn: 'cancelled,deadline-exceeded,internal,resource-exhausted,unavailable' } },
    { ...to('reviews'), retries: { attempts: 5, retryOn: '502,503' } },
  );
  assert.deepEqual(routes[0]?.retries?.retryOn, ['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);
  assert.deepEqual(routes[0]?.retries?.retriableStatusCodes, []);
  assert.equal(routes[0]?.retries?.attempts, 1);
  assert.deepEqual(routes[1]?.retries?.retryOn, ['retriable-status-codes']);
  assert.deepEqual(routes[1]?.retries?.retriableStatusCodes, [502, 503]);
});

test('grpcStatus by name or number', () => {
  const table: readonly [unknown, number][] = [['OK', 0], ['cancelled', 1], ['DEADLINE_EXCEEDED', 4], ['UNAUTHENTICATED', 16], [13, 13], ['8', 8]];
  for (const [given, code] of table) {
    const [route] = routesOf({ ...to('reviews'), fault: { abort: { grpcStatus: given, percentage: { value: 1 } } } });
    assert.equal(route?.fault?.abort?.grpcStatus, code, `grpcStatus ${String(given)}`);
  }
});

test('weights are relative: one destination takes all traffic whatever its weight; a missing one is 0', () => {
  const relative = routesOf({ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 60 }, { destination: { host: 'ratings' }, weight: 30 }] });
  assert.deepEqual(relative[0]?.route?.map((w) => w.weight), [60, 30]);
  const single = routesOf({ route: [{ destination: { host: 'reviews' }, weight: 0 }] });
  assert.deepEqual(single[0]?.route?.map((w) => w.weight), [100]);
  const routes = routesOf(
    { match: [{ uri: { prefix: '/a' } }], route: [{ destination: { host: 'reviews' }, weight: 100 }] },
    {
      route: [
        { destination: { host: 'reviews', subset: 'v1' } },
        { destination: { host: 'reviews', subset: 'v2' }, weight: 75 },
        { destination: { host: 'ratings' }, weight: 25 },
      ],
    },
  );
  assert.deepEqual(routes[0]?.route, only(dest('reviews', REVIEWS)));
  assert.deepEqual(routes[1]?.route?.map((w) => w.weight), [0, 75, 25]);
});

test('tcp routes: port matches and weighted destinations', () => {
  const t = traffic(
    vs('multi', {
      hosts: ['multi'],
      tcp: [
        { match: [{ port: 9000 }], route: [{ destination: { host: 'multi', port: { number: 9000 } }, weight: 90 }, { destination: { host: 'ratings.default' }, weight: 10 }] },
        { route: [{ destination: { host: 'multi.shop.svc.cluster.local' } }] },
      ],
    }, { namespace: 'shop' }, 'v1alpha3'),
  );
  assert.deepEqual(t.virtualServices, [
    {
      name: 'multi',
      namespace: 'shop',
      services: ['shop/multi'],
      http: [],
      tcp: [
        { match: [{ port: 9000 }], route: [{ destination: dest('multi', 'shop/multi', { port: 9000 }), weight: 90 }, { destination: dest('ratings.default', RATINGS), weight: 10 }] },
        { match: [], route: [{ destination: dest('multi.shop.svc.cluster.local', 'shop/multi'), weight: 100 }] },
      ],
    },
  ]);
});

test('hosts resolve as in Istio: FQDN in any case, short names in the namespace, x.ns, wildcards', () => {
  const cases: readonly { hosts: string[]; namespace?: string; services: string[] }[] = [
    { hosts: ['Reviews.Default.SVC.cluster.local'], services: [REVIEWS] },
    { hosts: ['reviews'], services: [REVIEWS] },
    { hosts: ['multi'], namespace: 'shop', services: ['shop/multi'] },
    { hosts: ['multi.shop'], services: ['shop/multi'] },
    { hosts: ['*.example.com'], services: ['default/api'] },
    { hosts: ['*.default.svc.cluster.local'], services: [RATINGS, REVIEWS] },
    { hosts: ['ratings', 'reviews.default'], services: [RATINGS, REVIEWS] },
  ];
  for (const c of cases) {
    const t = traffic(vs('v', { hosts: c.hosts, http: [to('api.example.com')] }, c.namespace ? { namespace: c.namespace } : {}, 'v1beta1'));
    assert.deepEqual(t.virtualServices[0]?.services, c.services, c.hosts.join(','));
  }
});

test('a DestinationRule with every policy builds the documented model', () => {
  const t = traffic(
    dr('multi', {
      host: 'multi.shop.svc.cluster.local',
      trafficPolicy: {
        loadBalancer: { consistentHash: { httpCookie: { name: 'user', path: '/', ttl: '1h' }, ringHash: { minimumRingSize: 4096 } } },
        connectionPool: {
          tcp: { maxConnections: 100, connectTimeout: '250ms', idleTimeout: '5m' },
          http: { http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRequestsPerConnection: 0, maxRetries: 3 },
        },
        outlierDetection: { consecutive5xxErrors: 0, consecutiveGatewayErrors: 3, interval: '5s' },
        portLevelSettings: [
          { port: { number: 80 }, loadBalancer: { simple: 'least_conn' }, outlierDetection: {} },
          { port: { number: 9000 }, connectionPool: { http: { idleTimeout: '30s', maxRequestsPerConnection: 1 } } },
        ],
      },
      subsets: [
        { name: 'a', labels: { app: 'multi' }, trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true, maglev: {} } }, portLevelSettings: [{ port: { number: 80 }, loadBalancer: { simple: 'RANDOM' } }] } },
        { name: 'b', trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'X-User', maglev: { tableSize: 131071 } } } } },
        { name: 'c', trafficPolicy: { loadBalancer: { consistentHash: { httpQueryParameterName: 'u', minimumRingSize: 64 } } } },
        { name: 'd', trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: 's' } } } } },
      ],
      exportTo: ['.'],
    }, { namespace: 'shop' }),
  );
  const expected: DestinationRule = {
    name: 'multi',
    namespace: 'shop',
    host: 'multi.shop.svc.cluster.local',
    service: 'shop/multi',
    trafficPolicy: {
      loadBalancer: { consistentHash: { key: { cookie: { name: 'user', path: '/', ttlMs: 3_600_000 } }, algorithm: 'RING_HASH', size: 4096 } },
      connectionPool: { maxConnections: 100, connectTimeoutMs: 250, idleTimeoutMs: 300_000, http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRetries: 3 },
      outlierDetection: { consecutive5xxErrors: 0, consecutiveGatewayErrors: 3, intervalMs: 5000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10, minHealthPercent: 0 },
    },
    portLevel: [
      {
        port: 80,
        loadBalancer: { simple: 'LEAST_REQUEST' },
        outlierDetection: { intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10, minHealthPercent: 0 },
      },
      { port: 9000, connectionPool: { idleTimeoutMs: 30_000, maxRequestsPerConnection: 1 } },
    ],
    subsets: [
      {
        name: 'a',
        labels: { app: 'multi' },
        trafficPolicy: { loadBalancer: { consistentHash: { key: { sourceIp: true }, algorithm: 'MAGLEV', size: 65537 } } },
        portLevel: [{ port: 80, loadBalancer: { simple: 'RANDOM' } }],
      },
      { name: 'b', labels: {}, trafficPolicy: { loadBalancer: { consistentHash: { key: { header: 'x-user' }, algorithm: 'MAGLEV', size: 131071 } } }, portLevel: [] },
      { name: 'c', labels: {}, trafficPolicy: { loadBalancer: { consistentHash: { key: { queryParameter: 'u' }, algorithm: 'RING_HASH', size: 64 } } }, portLevel: [] },
      { name: 'd', labels: {}, trafficPolicy: { loadBalancer: { consistentHash: { key: { cookie: { name: 's', ttlMs: 0 } }, algorithm: 'RING_HASH', size: 1024 } } }, portLevel: [] },
    ],
  };
  assert.deepEqual(t, { virtualServices: [], destinationRules: [expected], rateLimits: [] });
});

test('simple load balancers, and PEAK_EWMA by annotation', () => {
  for (const [given, simple] of [['ROUND_ROBIN', 'ROUND_ROBIN'], ['LEAST_REQUEST', 'LEAST_REQUEST'], ['LEAST_CONN', 'LEAST_REQUEST'], ['RANDOM', 'RANDOM'], ['PASSTHROUGH', 'PASSTHROUGH']]) {
    const t = traffic(dr('r', { host: 'reviews', trafficPolicy: { loadBalancer: { simple: given } } }));
    assert.deepEqual(t.destinationRules[0]?.trafficPolicy, { loadBalancer: { simple } }, String(given));
  }
  const ewma = (spec: Obj): DestinationRule | undefined =>
    traffic(dr('r', { host: 'reviews', ...spec }, { annotations: { 'nodemesh.io/load-balancer': 'PEAK_EWMA', 'other.io/x': 'y' } })).destinationRules[0];
  assert.deepEqual(ewma({})?.trafficPolicy, { loadBalancer: { simple: 'PEAK_EWMA' } });
  assert.deepEqual(ewma({ trafficPolicy: { connectionPool: { tcp: { maxConnections: 5 } } } })?.trafficPolicy, {
    loadBalancer: { simple: 'PEAK_EWMA' },
    connectionPool: { maxConnections: 5 },
  });
});

test('tls ISTIO_MUTUAL is kept and originates nothing (agents always use mutual TLS between nodes)', () => {
  const t = traffic(dr('r', { host: 'reviews', trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' }, loadBalancer: { simple: 'RANDOM' } } }));
  assert.deepEqual(t.destinationRules[0]?.trafficPolicy, { loadBalancer: { simple: 'RANDOM' }, tls: { mode: 'ISTIO_MUTUAL' } });
});

test('LocalRateLimits: resolved service, optional port, route and key', () => {
  const t = traffic(
    REVIEWS_DR,
    reviewsVs({ name: 'login', match: [{ uri: { exact: '/login' } }], ...to('reviews') }, to('reviews', { subset: 'v1' })),
    rateLimit('login', { host: 'reviews', route: 'login', tokenBucket: { maxTokens: 10, fillInterval: '1m' }, perKey: { sourcePrincipal: true } }),
    rateLimit('rest', { host: 'reviews', port: 9080, route: 'reviews.1', tokenBucket: { maxTokens: 100, tokensPerFill: 10, fillInterval: '100ms' }, perKey: { header: 'X-Tenant' } }),
    rateLimit('all', { host: 'multi.shop', tokenBucket: { maxTokens: 1, fillInterval: '1s' } }, { namespace: 'shop' }),
  );
  assert.deepEqual(t.rateLimits, [
    { name: 'login', namespace: 'default', service: REVIEWS, route: 'login', maxTokens: 10, tokensPerFill: 10, fillIntervalMs: 60_000, perKey: { sourcePrincipal: true } },
    { name: 'rest', namespace: 'default', service: REVIEWS, port: 9080, route: 'reviews.1', maxTokens: 100, tokensPerFill: 10, fillIntervalMs: 100, perKey: { header: 'x-tenant' } },
    { name: 'all', namespace: 'shop', service: 'shop/multi', maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 1000 },
  ]);
});

test('traffic documents are sorted by namespace and name, and frozen', () => {
  const t = traffic(
    rateLimit('b', { host: 'reviews', tokenBucket: { maxTokens: 1, fillInterval: '1s' } }),
    rateLimit('a', { host: 'ratings', tokenBucket: { maxTokens: 1, fillInterval: '1s' } }),
    vs('z', { hosts: ['ratings'], http: [to('ratings')] }),
    vs('a', { hosts: ['multi'], http: [to('multi')] }, { namespace: 'shop' }),
    vs('m', { hosts: ['reviews'], http: [to('reviews')], exportTo: ['*'], gateways: ['mesh'] }),
    dr('y', { host: 'ratings' }),
    dr('x', { host: 'reviews' }),
  );
  assert.deepEqual(t.virtualServices.map((v) => `${v.namespace}/${v.name}`), ['default/m', 'default/z', 'shop/a']);
  assert.deepEqual(t.destinationRules.map((v) => v.name), ['x', 'y']);
  assert.deepEqual(t.rateLimits.map((v) => v.name), ['a', 'b']);
  assert.ok(Object.isFrozen(t.virtualServices[0]?.http[0]?.route?.[0]?.destination));
  assert.ok(Object.isFrozen(t.destinationRules[0]?.subsets));
});

test('unnamed http routes are named after the VirtualService and their index', () => {
  const routes = routesOf({ name: 'first', match: [{ uri: { prefix: '/a' } }], ...to('reviews') }, { match: [{ uri: { prefix: '/b' } }], ...to('reviews') }, to('reviews'));
  assert.deepEqual(routes.map((r) => r.name), ['first', 'reviews.1', 'reviews.2']);
});
