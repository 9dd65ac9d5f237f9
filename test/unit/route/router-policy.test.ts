// What the router hands the executors besides the route: merged DestinationRule policies, header edits,
// TCP routes and the rate limits that apply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnectionPool, LoadBalancer, OutlierDetection, Subset, TrafficPolicy } from '../../../src/config/traffic';
import { applyHeaderEdits, createRouter, headerEdits, mergePolicy } from '../../../src/route/router';
import type { RouteDecision } from '../../../src/route/types';
import { dr, httpRoute, limit, mesh, noRandom, req, scripted, svc, to, vs } from './helpers';

const RR: LoadBalancer = { simple: 'ROUND_ROBIN' };
const LR: LoadBalancer = { simple: 'LEAST_REQUEST' };
const RND: LoadBalancer = { simple: 'RANDOM' };
const POOL_A: ConnectionPool = { maxConnections: 10 };
const POOL_B: ConnectionPool = { maxConnections: 20 };
const OD: OutlierDetection = { consecutive5xxErrors: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10, minHealthPercent: 0 };

const sub = (over: Partial<Subset> = {}): Subset => ({ name: 'v1', labels: { version: 'v1' }, portLevel: [], ...over });

/** [what, rule fields, subset (or none), port, expected policy]. */
const MERGES: readonly [string, Parameters<typeof dr>[1], Subset | undefined, number, TrafficPolicy][] = [
  ['no policy anywhere', {}, undefined, 80, {}],
  ['top level', { trafficPolicy: { loadBalancer: RR, connectionPool: POOL_A } }, undefined, 80, { loadBalancer: RR, connectionPool: POOL_A }],
  [
    'port level replaces the top level whole (not inherited)',
    { trafficPolicy: { loadBalancer: RR, connectionPool: POOL_A }, portLevel: [{ port: 80, loadBalancer: LR }] },
    undefined,
    80,
    { loadBalancer: LR },
  ],
  ['port level of another port does not apply', { trafficPolicy: { loadBalancer: RR }, portLevel: [{ port: 90, loadBalancer: LR }] }, undefined, 80, { loadBalancer: RR }],
  [
    'subset overrides field by field',
    { trafficPolicy: { loadBalancer: RR, connectionPool: POOL_A } },
    sub({ trafficPolicy: { connectionPool: POOL_B, outlierDetection: OD } }),
    80,
    { loadBalancer: RR, connectionPool: POOL_B, outlierDetection: OD },
  ],
  ['subset without a policy inherits', { trafficPolicy: { loadBalancer: RR } }, sub(), 80, { loadBalancer: RR }],
  [
    'subset over the rule port level',
    { trafficPolicy: { loadBalancer: RR }, portLevel: [{ port: 80, connectionPool: POOL_A }] },
    sub({ trafficPolicy: { loadBalancer: LR } }),
    80,
    { loadBalancer: LR, connectionPool: POOL_A },
  ],
  [
    'subset port level wins over everything and replaces all fields',
    { trafficPolicy: { loadBalancer: RR, connectionPool: POOL_A, outlierDetection: OD } },
    sub({ trafficPolicy: { loadBalancer: LR }, portLevel: [{ port: 80, loadBalancer: RND }] }),
    80,
    { loadBalancer: RND },
  ],
  [
    'subset port level for another port: the subset policy applies',
    { trafficPolicy: { connectionPool: POOL_A } },
    sub({ trafficPolicy: { loadBalancer: LR }, portLevel: [{ port: 90, loadBalancer: RND }] }),
    80,
    { loadBalancer: LR, connectionPool: POOL_A },
  ],
];

test('DestinationRule policy merging (Istio MergeSubsetTrafficPolicy)', () => {
  for (const [what, fields, subset, port, want] of MERGES) {
    const rule = dr('default/web', { ...fields, subsets: subset === undefined ? [] : [subset] });
    assert.deepEqual(mergePolicy(rule, subset, port), want, what);
  }
  assert.deepEqual(mergePolicy(undefined, undefined, 80), {});
});

test('destination(): the merged policy per (service, subset, port); shared objects; unknown subset undefined', () => {
  const web = svc('web', [80, 90]);
  const other = svc('other');
  const rule = dr('default/web', {
    trafficPolicy: { loadBalancer: RR },
    portLevel: [{ port: 90, loadBalancer: LR }],
    subsets: [sub({ trafficPolicy: { connectionPool: POOL_B } })],
  });
  const r = createRouter(mesh([web, other], { destinationRules: [rule] }));
  const plain = r.destination(web, web.ports[0], undefined);
  assert.deepEqual(plain.policy, { loadBalancer: RR });
  assert.equal(plain.cluster, 'outbound|80||web.default.svc.cluster.local');
  assert.equal(r.destination(web, web.ports[0], undefined), plain);
  assert.deepEqual(r.destination(web, web.ports[1], undefined).policy, { loadBalancer: LR });
  const v1 = r.destination(web, web.ports[1], 'v1');
  assert.deepEqual(v1?.policy, { loadBalancer: LR, connectionPool: POOL_B });
  assert.deepEqual(v1?.subsetLabels, { version: 'v1' });
  assert.equal(v1?.cluster, 'outbound|90|v1|web.default.svc.cluster.local');
  assert.equal(r.destination(web, web.ports[0], 'v9'), undefined);
  assert.deepEqual(r.destination(other, other.ports[0], undefined).policy, {});
  // The no-VirtualService decision carries the same merged policy.
  const d = r.route(web, web.ports[1], req(), noRandom);
  assert.equal(d.kind === 'forward' && d.to, r.destination(web, web.ports[1], undefined));
});

test('header edits: route level then destination level; the destination wins on set; add and remove accumulate', () => {
  const route = httpRoute('h', [], {
    headers: { request: { set: { 'x-a': 'route', 'x-b': 'route' }, add: { 'x-log': 'r' }, remove: ['x-drop'] }, response: { set: { 'x-served-by': 'mesh' } } },
  });
  const wd = to('default/web', 100, {}, { request: { set: { 'x-a': 'dest' }, add: { 'x-log': 'd' }, remove: ['x-drop', 'x-other'] } });
  const e = headerEdits(route, wd);
  assert.deepEqual(e?.request, {
    remove: ['x-drop', 'x-other'],
    set: [
      ['x-b', 'route'],
      ['x-a', 'dest'],
    ],
    add: [
      ['x-log', 'r'],
      ['x-log', 'd'],
    ],
  });
  assert.deepEqual(e?.response, { remove: [], set: [['x-served-by', 'mesh']], add: [] });
  assert.equal(headerEdits(httpRoute('none', []), to('default/web')), undefined);
  assert.equal(headerEdits(route, undefined)?.request?.set.length, 2);

  // Applied in Envoy's order: remove, set, add.
  const h: Record<string, string | string[] | undefined> = { 'x-drop': '1', 'x-a': 'client', 'x-log': 'c', keep: 'k' };
  applyHeaderEdits(e?.request, h);
  assert.deepEqual(h, { 'x-a': 'dest', 'x-log': ['c', 'r', 'd'], keep: 'k', 'x-b': 'route' });
  applyHeaderEdits(undefined, h);

  // The router precomputes them per weighted destination.
  const web = svc('web');
  const r = createRouter(mesh([web], { virtualServices: [vs('h', ['default/web'], [{ ...route, route: [to('default/web', 50), wd] }])] }));
  const first = r.route(web, web.ports[0], req(), scripted(0.1)) as Extract<RouteDecision, { kind: 'forward' }>;
  const second = r.route(web, web.ports[0], req(), scripted(0.9)) as Extract<RouteDecision, { kind: 'forward' }>;
  assert.deepEqual(first.headers?.request?.set, [
    ['x-a', 'route'],
    ['x-b', 'route'],
  ]);
  assert.deepEqual(second.headers, e);
  assert.equal(r.route(web, web.ports[0], req(), scripted(0.9)), second);
});

test('redirects and direct responses carry the route-level response edits', () => {
  const web = svc('web');
  const headers = { response: { set: { 'x-why': 'moved' } } };
  const r = createRouter(
    mesh([web], {
      virtualServices: [
        vs('x', ['default/web'], [
          httpRoute('r', [{ uri: { prefix: '/r' } }], { redirect: { status: 301, uri: '/n' }, headers }),
          httpRoute('d', [], { directResponse: { status: 200 }, headers }),
        ]),
      ],
    }),
  );
  for (const path of ['/r', '/d']) {
    const d = r.route(web, web.ports[0], req({ path }), noRandom);
    assert.ok(d.kind === 'redirect' || d.kind === 'direct');
    if (d.kind === 'redirect' || d.kind === 'direct') assert.deepEqual(d.headers?.response?.set, [['x-why', 'moved']]);
  }
});

test('routeTcp: first route whose match list is empty or has the port; weighted; none → the service itself', () => {
  const db = svc('db', [5432, 6432]);
  const dbNew = svc('db-new', [5432, 6432]);
  const cache = svc('cache', [6379]);
  const r = createRouter(
    mesh([db, dbNew, cache], {
      virtualServices: [
        vs('db', ['default/db'], [], [
          { match: [{ port: 6432 }], route: [to('default/db-new')] },
          { match: [{ port: 5432 }], route: [to('default/db', 80), to('default/db-new', 20)] },
        ]),
        vs('cache', ['default/cache'], [], [{ match: [], route: [to('default/db', 100, { port: 5432 })] }]),
      ],
    }),
  );
  assert.equal(r.routeTcp(db, db.ports[1], noRandom)?.cluster, 'outbound|6432||db-new.default.svc.cluster.local');
  assert.equal(r.routeTcp(db, db.ports[0], scripted(0.5))?.service, db);
  assert.equal(r.routeTcp(db, db.ports[0], scripted(0.85))?.service, dbNew);
  assert.equal(r.routeTcp(cache, cache.ports[0], noRandom)?.cluster, 'outbound|5432||db.default.svc.cluster.local');
  assert.equal(r.routeTcp(dbNew, dbNew.ports[0], noRandom)?.service, dbNew, 'no VirtualService: itself');
  // A tcp-only VirtualService leaves HTTP routing alone.
  assert.equal(r.hasHttpRoutes(db), false);
  const noMatch = createRouter(mesh([db], { virtualServices: [vs('x', ['default/db'], [], [{ match: [{ port: 1 }], route: [to('default/db-new')] }])] }));
  assert.equal(noMatch.routeTcp(db, db.ports[0], noRandom)?.service, db);
  const gone = createRouter(mesh([db], { virtualServices: [vs('x', ['default/db'], [], [{ match: [], route: [to('default/db-new')] }])] }));
  assert.equal(gone.routeTcp(db, db.ports[0], noRandom), undefined, 'the destination service is gone');
});

test('rateLimits: by service, port and route name; limits of deleted routes never apply', () => {
  const web = svc('web', [80, 90]);
  const all = limit('all');
  const port80 = limit('port80', { port: 80 });
  const apiRoute = limit('api', { route: 'api' });
  const deletedRoute = limit('old', { route: 'old-route' });
  const otherSvc = limit('other', { service: 'default/other' });
  const routes = [httpRoute('api', [{ uri: { prefix: '/api' } }], { route: [to('default/web')] }), httpRoute('rest', [], { route: [to('default/web')] })];
  const r = createRouter(
    mesh([web, svc('other')], { virtualServices: [vs('web', ['default/web'], routes)], rateLimits: [all, port80, apiRoute, deletedRoute, otherSvc] }),
  );
  const names = (port: number, route: (typeof routes)[number] | undefined): string[] => r.rateLimits(web, port, route).map((l) => l.name);
  assert.deepEqual(names(80, routes[0]), ['all', 'port80', 'api']);
  assert.deepEqual(names(90, routes[0]), ['all', 'api']);
  assert.deepEqual(names(80, routes[1]), ['all', 'port80']);
  assert.deepEqual(names(80, undefined), ['all', 'port80']);
  assert.deepEqual(names(7, undefined), ['all'], 'a port outside the tables is filtered on the spot');
  assert.equal(r.rateLimits(web, 80, routes[1]), r.rateLimits(web, 80, routes[1]), 'precomputed');
  assert.deepEqual(
    r.rateLimits(svc('nolimits'), 80, undefined).map((l) => l.name),
    [],
  );
  // The route's decision gives the executor the route to ask with.
  const d = r.route(web, web.ports[0], req({ path: '/api/x' }), noRandom);
  assert.deepEqual(r.rateLimits(web, 80, d.kind === 'forward' ? d.route : undefined).map((l) => l.name), ['all', 'port80', 'api']);
});
