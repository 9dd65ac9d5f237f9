// HTTP routing decisions: first matching route wins, weighted splits with a scripted random, redirects,
// direct responses, rewrites, every match condition, and what happens when config goes away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpMatch, HttpRoute } from '../../../src/config/traffic';
import { createRouter, redirectLocation, rewritePath } from '../../../src/route/router';
import type { RouteDecision } from '../../../src/route/types';
import { dr, httpRoute, mesh, noRandom, port, req, scripted, svc, to, vs } from './helpers';

const web = svc('web', [80, 8080]);
const reviews = svc('reviews', [9080]);
const ratings = svc('ratings', [9080]);

const reviewsDr = dr('default/reviews', {
  subsets: [
    { name: 'v1', labels: { version: 'v1' }, portLevel: [] },
    { name: 'v2', labels: { version: 'v2' }, portLevel: [] },
  ],
});

/** The realistic table: a header route, a 90/10 split under /api, then a catch-all. */
const reviewsVs = vs('reviews', ['default/reviews'], [
  httpRoute('jason', [{ headers: { 'end-user': { exact: 'jason' } } }], { route: [to('default/reviews', 100, { subset: 'v2' })] }),
  httpRoute('split', [{ uri: { prefix: '/api' } }], { route: [to('default/reviews', 90, { subset: 'v1' }), to('default/reviews', 10, { subset: 'v2' })] }),
  httpRoute('rest', [], { route: [to('default/reviews', 100, { subset: 'v1' })] }),
]);

const config = mesh([web, reviews, ratings], { virtualServices: [reviewsVs], destinationRules: [reviewsDr] });

function forward(d: RouteDecision): Extract<RouteDecision, { kind: 'forward' }> {
  assert.equal(d.kind, 'forward', JSON.stringify(d));
  return d as Extract<RouteDecision, { kind: 'forward' }>;
}

test('no VirtualService: forward to the service itself on the request port, the same object every time', () => {
  const r = createRouter(config);
  const d = forward(r.route(web, web.ports[1], req(), noRandom));
  assert.equal(d.route, undefined);
  assert.equal(d.weighted, undefined);
  assert.equal(d.to.service, web);
  assert.equal(d.to.port.number, 8080);
  assert.equal(d.to.subset, undefined);
  assert.equal(d.to.subsetLabels, undefined);
  assert.deepEqual(d.to.policy, {});
  assert.equal(d.to.cluster, 'outbound|8080||web.default.svc.cluster.local');
  assert.equal(d.headers, undefined);
  assert.deepEqual(d.mirrors, []);
  assert.equal(r.route(web, web.ports[1], req({ path: '/other' }), noRandom), d);
  assert.equal(r.hasHttpRoutes(web), false);
  assert.equal(r.hasHttpRoutes(reviews), true);
});

test('no traffic config at all: every service is a pass-through', () => {
  const r = createRouter(mesh([web, reviews]));
  const d = forward(r.route(reviews, reviews.ports[0], req(), noRandom));
  assert.equal(d.to.service, reviews);
  assert.equal(d.to.cluster, 'outbound|9080||reviews.default.svc.cluster.local');
  assert.equal(r.hasHttpRoutes(reviews), false);
});

test('realistic table: header route, then the 90/10 split, then the catch-all', () => {
  const r = createRouter(config);
  const p = reviews.ports[0];
  const jason = forward(r.route(reviews, p, req({ path: '/api/x', headers: { 'end-user': 'jason' } }), noRandom));
  assert.equal(jason.route?.name, 'jason');
  assert.equal(jason.to.subset, 'v2');
  assert.deepEqual(jason.to.subsetLabels, { version: 'v2' });
  assert.equal(jason.to.cluster, 'outbound|9080|v2|reviews.default.svc.cluster.local');

  const cases: [number, string][] = [
    [0, 'v1'],
    [0.5, 'v1'],
    [0.8999, 'v1'],
    [0.9, 'v2'],
    [0.9999, 'v2'],
  ];
  for (const [rnd, subset] of cases) {
    const d = forward(r.route(reviews, p, req({ path: '/api/items', headers: { 'end-user': 'mary' } }), scripted(rnd)));
    assert.equal(d.route?.name, 'split');
    assert.equal(d.to.subset, subset, `random ${rnd}`);
    assert.equal(d.weighted?.weight, subset === 'v1' ? 90 : 10);
  }
  const rest = forward(r.route(reviews, p, req({ path: '/ui' }), noRandom));
  assert.equal(rest.route?.name, 'rest');
  assert.equal(rest.to.subset, 'v1');
  // Decisions without a rewrite are shared objects.
  assert.equal(r.route(reviews, p, req({ path: '/ui' }), noRandom), rest);
});

test('weight 0 is never chosen; a single destination takes no draw', () => {
  const r = createRouter(
    mesh([web, reviews], {
      virtualServices: [vs('w', ['default/web'], [httpRoute('w', [], { route: [to('default/reviews', 0), to('default/web', 100), to('default/reviews', 0)] })])],
    }),
  );
  for (const x of [0, 0.3, 0.999999, 1]) assert.equal(forward(r.route(web, web.ports[0], req(), scripted(x))).to.service, web, `random ${x}`);
});

test('a VirtualService whose routes all miss answers no-route (Envoy NR)', () => {
  const r = createRouter(
    mesh([web], { virtualServices: [vs('only-admin', ['default/web'], [httpRoute('admin', [{ uri: { prefix: '/admin' } }], { route: [to('default/web')] })])] }),
  );
  assert.equal(r.route(web, web.ports[0], req({ path: '/admin/x' }), noRandom).kind, 'forward');
  assert.deepEqual(r.route(web, web.ports[0], req({ path: '/public' }), noRandom), { kind: 'no-route' });
});

test('first matching route wins, and any of its match entries is enough', () => {
  const r = createRouter(
    mesh([web, reviews, ratings], {
      virtualServices: [
        vs('order', ['default/web'], [
          httpRoute('a', [{ uri: { exact: '/a' } }, { uri: { exact: '/b' } }], { route: [to('default/reviews')] }),
          httpRoute('b', [{ uri: { prefix: '/' } }], { route: [to('default/ratings')] }),
          httpRoute('c', [{ uri: { exact: '/b' } }], { route: [to('default/web')] }),
        ]),
      ],
    }),
  );
  const name = (path: string): string | undefined => forward(r.route(web, web.ports[0], req({ path }), noRandom)).route?.name;
  assert.equal(name('/a'), 'a');
  assert.equal(name('/b'), 'a');
  assert.equal(name('/c'), 'b');
});

/** [condition, request, matches?] for one route with a single match entry. */
const CONDITIONS: readonly [HttpMatch, Parameters<typeof req>[0], boolean][] = [
  [{ uri: { exact: '/x' } }, { path: '/x' }, true],
  [{ uri: { exact: '/x' } }, { path: '/x?a=1' }, true],
  [{ uri: { exact: '/x' } }, { path: '/xy' }, false],
  [{ uri: { exact: '/x' } }, { path: '/X' }, false],
  [{ uri: { exact: '/x' }, ignoreUriCase: true }, { path: '/X' }, true],
  [{ uri: { prefix: '/api/' } }, { path: '/api/v1' }, true],
  [{ uri: { prefix: '/api/' } }, { path: '/api' }, false],
  [{ uri: { prefix: '/api' } }, { path: '/ap?i=1' }, false],
  [{ uri: { prefix: '/api' } }, { path: '/x?/api' }, false],
  [{ uri: { prefix: '/API' }, ignoreUriCase: true }, { path: '/api/x' }, true],
  [{ uri: { regex: '/users/[0-9]+' } }, { path: '/users/42' }, true],
  [{ uri: { regex: '/users/[0-9]+' } }, { path: '/users/42?x=1' }, true],
  [{ uri: { regex: '/users/[0-9]+' } }, { path: '/users/42/posts' }, false],
  [{ uri: { regex: '/users/.*' }, ignoreUriCase: true }, { path: '/USERS/x' }, false],
  [{ method: { exact: 'POST' } }, { method: 'POST' }, true],
  [{ method: { exact: 'POST' } }, { method: 'GET' }, false],
  [{ method: { regex: 'GET|HEAD' } }, { method: 'HEAD' }, true],
  [{ scheme: { exact: 'http' } }, {}, true],
  [{ scheme: { exact: 'https' } }, {}, false],
  [{ authority: { exact: 'web:8080' } }, { authority: 'web:8080' }, true],
  [{ authority: { prefix: 'web' } }, { authority: 'api' }, false],
  [{ authority: { regex: 'web(:[0-9]+)?' } }, { authority: 'web:80' }, true],
  [{ headers: { 'x-v': { exact: '2' } } }, { headers: { 'x-v': '2' } }, true],
  [{ headers: { 'x-v': { exact: '2' } } }, { headers: { 'x-v': '22' } }, false],
  [{ headers: { 'x-v': { exact: '2' } } }, {}, false],
  [{ headers: { 'x-v': { prefix: 'be' } } }, { headers: { 'x-v': 'beta' } }, true],
  [{ headers: { 'x-v': { regex: '.*' } } }, { headers: { 'x-v': '' } }, true],
  [{ headers: { 'x-v': { regex: '.*' } } }, {}, false],
  [{ headers: { a: { exact: '1' }, b: { exact: '2' } } }, { headers: { a: '1', b: '2' } }, true],
  [{ headers: { a: { exact: '1' }, b: { exact: '2' } } }, { headers: { a: '1' } }, false],
  [{ queryParams: { v: { exact: '2' } } }, { path: '/p?v=2' }, true],
  [{ queryParams: { v: { exact: '2' } } }, { path: '/p?a=1&v=2&c' }, true],
  [{ queryParams: { v: { exact: '2' } } }, { path: '/p?v=3&v=2' }, false],
  [{ queryParams: { v: { exact: '2' } } }, { path: '/p?vv=2' }, false],
  [{ queryParams: { v: { exact: '2' } } }, { path: '/p' }, false],
  [{ queryParams: { v: { regex: '[0-9]+' } } }, { path: '/p?v=123' }, true],
  [{ queryParams: { v: { regex: '[0-9]+' } } }, { path: '/p?v=12a' }, false],
  [{ queryParams: { debug: { exact: '' } } }, { path: '/p?debug' }, true],
  [{ queryParams: { debug: { exact: '' } } }, { path: '/p?x=1&debug&y' }, true],
  [{ queryParams: { debug: { exact: '' } } }, { path: '/p?debug=1' }, false],
  [{ queryParams: { v: { prefix: 'a' } } }, { path: '/p?v=abc' }, true],
  [{ withoutHeaders: { 'x-canary': { exact: 'true' } } }, {}, true],
  [{ withoutHeaders: { 'x-canary': { exact: 'true' } } }, { headers: { 'x-canary': 'false' } }, true],
  [{ withoutHeaders: { 'x-canary': { exact: 'true' } } }, { headers: { 'x-canary': 'true' } }, false],
  [{ withoutHeaders: { a: { exact: '1' }, b: { exact: '1' } } }, { headers: { b: '1' } }, false],
  [{ sourceLabels: { app: 'sleep', version: 'v1' } }, { sourceLabels: { app: 'sleep', version: 'v1', extra: 'x' } }, true],
  [{ sourceLabels: { app: 'sleep', version: 'v1' } }, { sourceLabels: { app: 'sleep' } }, false],
  [{ sourceLabels: { app: 'sleep' } }, {}, false],
  [{ sourceNamespace: 'prod' }, { sourceNamespace: 'prod' }, true],
  [{ sourceNamespace: 'prod' }, { sourceNamespace: 'dev' }, false],
  [{ port: 8080 }, {}, true],
  [{ port: 80 }, {}, false],
  [{ method: { exact: 'GET' }, uri: { prefix: '/a' }, headers: { x: { exact: '1' } } }, { path: '/a', headers: { x: '1' } }, true],
  [{ method: { exact: 'GET' }, uri: { prefix: '/a' }, headers: { x: { exact: '1' } } }, { path: '/a', headers: { x: '2' } }, false],
  [{}, {}, true],
];

test('match conditions, one at a time and combined (request on web:8080)', () => {
  for (const [match, over, want] of CONDITIONS) {
    const r = createRouter(mesh([web], { virtualServices: [vs('t', ['default/web'], [httpRoute('t', [match], { route: [to('default/web')] })])] }));
    const d = r.route(web, web.ports[1], req(over), noRandom);
    assert.equal(d.kind === 'forward', want, `${JSON.stringify(match)} with ${JSON.stringify(over)}`);
  }
});

test('an invalid regex never matches and is reported by the build', () => {
  const r = createRouter(
    mesh([web], {
      virtualServices: [
        vs('bad', ['default/web'], [
          httpRoute('bad', [{ uri: { regex: '(a' } }], { directResponse: { status: 418 } }),
          httpRoute('ok', [], { route: [to('default/web')] }),
        ]),
      ],
    }),
  );
  assert.equal(forward(r.route(web, web.ports[0], req({ path: '(a' }), noRandom)).route?.name, 'ok');
  assert.equal(r.regexErrors.length, 1);
  assert.match(r.regexErrors[0], /missing closing \)/);
});

test('redirect: scheme, authority, port and uri, keeping the query unless the uri has its own', () => {
  const redirect = (over: Partial<NonNullable<HttpRoute['redirect']>>, path = '/old?q=1', authority = 'web:8080'): RouteDecision =>
    createRouter(mesh([web], { virtualServices: [vs('r', ['default/web'], [httpRoute('r', [], { redirect: { status: 301, ...over } })])] })).route(
      web,
      web.ports[0],
      req({ path, authority }),
      noRandom,
    );
  const cases: [Partial<NonNullable<HttpRoute['redirect']>>, string][] = [
    [{}, 'http://web:8080/old?q=1'],
    [{ uri: '/new' }, 'http://web:8080/new?q=1'],
    [{ uri: '/new?x=2' }, 'http://web:8080/new?x=2'],
    [{ authority: 'example.com' }, 'http://example.com/old?q=1'],
    [{ scheme: 'https', port: 8443 }, 'https://web:8443/old?q=1'],
    [{ authority: 'example.com:1', port: 2 }, 'http://example.com:2/old?q=1'],
    [{ status: 302, uri: '/n' }, 'http://web:8080/n?q=1'],
  ];
  for (const [over, location] of cases) {
    const d = redirect(over);
    assert.equal(d.kind, 'redirect');
    if (d.kind !== 'redirect') continue;
    assert.equal(d.location, location, JSON.stringify(over));
    assert.equal(d.status, over.status ?? 301);
  }
  assert.equal((redirect({ port: 9 }, '/', 'web') as { location: string }).location, 'http://web:9/');
  assert.equal(redirectLocation({ status: 301, port: 9 }, req({ authority: '[::1]:80', path: '/' })), 'http://[::1]:9/');
  assert.equal(redirectLocation({ status: 301, port: 9 }, req({ authority: '[::1]', path: '/' })), 'http://[::1]:9/');
});

test('directResponse: status and body, the same object every time', () => {
  const r = createRouter(
    mesh([web], { virtualServices: [vs('d', ['default/web'], [httpRoute('gone', [{ uri: { prefix: '/old' } }], { directResponse: { status: 410, body: 'gone' } })])] }),
  );
  const d = r.route(web, web.ports[0], req({ path: '/old/x' }), noRandom);
  assert.deepEqual({ ...d, route: undefined }, { kind: 'direct', route: undefined, status: 410, body: 'gone', headers: undefined });
  assert.equal(r.route(web, web.ports[0], req({ path: '/old/y' }), noRandom), d);
});

test('rewrite: prefix replaced for uri.prefix, whole path for exact/regex, "/" for no uri condition; query kept', () => {
  const route = (match: HttpMatch[], rewrite: HttpRoute['rewrite']): HttpRoute => httpRoute('rw', match, { rewrite, route: [to('default/web')] });
  const cases: [HttpMatch[], HttpRoute['rewrite'], string, string | undefined, string | undefined][] = [
    [[{ uri: { prefix: '/old' } }], { uri: '/new' }, '/old/x?q=1', '/new/x?q=1', undefined],
    [[{ uri: { prefix: '/old/' } }], { uri: '/' }, '/old/x', '/x', undefined],
    [[{ uri: { prefix: '/OLD' }, ignoreUriCase: true }], { uri: '/new' }, '/old/x', '/new/x', undefined],
    [[{ uri: { exact: '/login' } }], { uri: '/auth/login' }, '/login?next=/', '/auth/login?next=/', undefined],
    [[{ uri: { regex: '/u/[0-9]+' } }], { uri: '/user' }, '/u/42?a', '/user?a', undefined],
    [[], { uri: '/v2/' }, '/items?x', '/v2/items?x', undefined],
    [[{ headers: { a: { exact: '1' } } }, { uri: { prefix: '/p' } }], { uri: '/q' }, '/p/z', '/q/z', undefined],
    [[{ uri: { prefix: '/a' } }], { uri: '/b', authority: 'api.internal' }, '/a', '/b', 'api.internal'],
    [[{ uri: { prefix: '/a' } }], { authority: 'api.internal' }, '/a/x', undefined, 'api.internal'],
  ];
  for (const [match, rewrite, path, wantPath, wantAuthority] of cases) {
    const r = createRouter(mesh([web], { virtualServices: [vs('rw', ['default/web'], [route(match, rewrite)])] }));
    const d = forward(r.route(web, web.ports[0], req({ path }), noRandom));
    assert.equal(d.rewrite?.path, wantPath, `${JSON.stringify(match)} ${path}`);
    assert.equal(d.rewrite?.authority, wantAuthority);
  }
  const rw = httpRoute('x', [], { rewrite: { uri: '/n' } });
  assert.equal(rewritePath(rw, '/o', '/o/p?q'), '/n/p?q');
  assert.equal(rewritePath(rw, undefined, '/o/p?q'), '/n?q');
  assert.equal(rewritePath(httpRoute('y', []), '/o', '/o/p'), '/o/p');
});

test('sourceLabels and sourceNamespace pick the route by who calls', () => {
  const r = createRouter(
    mesh([web, reviews, ratings], {
      virtualServices: [
        vs('by-client', ['default/web'], [
          httpRoute('canary-clients', [{ sourceLabels: { app: 'tester' } }, { sourceNamespace: 'qa' }], { route: [to('default/reviews', 100, { port: 9080 })] }),
          httpRoute('default', [], { route: [to('default/web')] }),
        ]),
      ],
    }),
  );
  const svcOf = (over: Parameters<typeof req>[0]): string => forward(r.route(web, web.ports[0], req(over), noRandom)).to.service.name;
  assert.equal(svcOf({ sourceLabels: { app: 'tester', version: 'v1' } }), 'reviews');
  assert.equal(svcOf({ sourceNamespace: 'qa' }), 'reviews');
  assert.equal(svcOf({ sourceLabels: { app: 'sleep' } }), 'web');
});

test('deleted config: the route, the destination service, the subset', () => {
  // The VirtualService is deleted: the next router forwards straight to the service.
  const before = createRouter(config);
  const after = createRouter(mesh([web, reviews, ratings], { virtualServices: [], destinationRules: [reviewsDr] }));
  assert.equal(forward(before.route(reviews, reviews.ports[0], req({ path: '/ui' }), noRandom)).route?.name, 'rest');
  const d = forward(after.route(reviews, reviews.ports[0], req({ path: '/ui' }), noRandom));
  assert.equal(d.route, undefined);
  assert.equal(d.to.subset, undefined);

  // The destination service or subset is gone: 503 with noCluster, as Envoy's NC.
  const gone = createRouter(
    mesh([web], {
      virtualServices: [
        vs('gone', ['default/web'], [
          httpRoute('svc-gone', [{ uri: { prefix: '/a' } }], { route: [to('default/reviews')] }),
          httpRoute('subset-gone', [{ uri: { prefix: '/b' } }], { route: [to('default/web', 100, { subset: 'v9' })] }),
          httpRoute('port-gone', [{ uri: { prefix: '/c' } }], { route: [to('default/web', 100, { port: 9999 })] }),
        ]),
      ],
    }),
  );
  for (const path of ['/a', '/b', '/c']) {
    const x = gone.route(web, web.ports[0], req({ path }), noRandom);
    assert.equal(x.kind, 'direct', path);
    if (x.kind === 'direct') {
      assert.equal(x.status, 503);
      assert.equal(x.noCluster, true);
    }
  }
});

test('destination port: explicit, else the request port, else the only port; a multi-port target without it is NC', () => {
  const multi = svc('multi', [80, 90]);
  const single = svc('single', [7000]);
  const r = createRouter(
    mesh([web, multi, single], {
      virtualServices: [
        vs('ports', ['default/web'], [
          httpRoute('explicit', [{ uri: { prefix: '/e' } }], { route: [to('default/multi', 100, { port: 90 })] }),
          httpRoute('same', [{ uri: { prefix: '/s' } }], { route: [to('default/multi')] }),
          httpRoute('only', [{ uri: { prefix: '/o' } }], { route: [to('default/single')] }),
        ]),
      ],
    }),
  );
  const at = (path: string, p = web.ports[0]): RouteDecision => r.route(web, p, req({ path }), noRandom);
  assert.equal(forward(at('/e')).to.cluster, 'outbound|90||multi.default.svc.cluster.local');
  assert.equal(forward(at('/s')).to.port.number, 80);
  assert.equal(forward(at('/o', web.ports[1])).to.port.number, 7000);
  assert.equal(at('/s', web.ports[1]).kind, 'direct', 'multi has no 8080 and two ports');
  // A port the service does not declare still routes (tables built on the spot).
  assert.equal(forward(r.route(web, port(81), req({ path: '/e' }), noRandom)).to.port.number, 90);
});

test('the first VirtualService listing a service routes it; others for the same service are ignored', () => {
  const r = createRouter(
    mesh([web], {
      virtualServices: [
        vs('first', ['default/web'], [httpRoute('first', [], { directResponse: { status: 201 } })]),
        vs('second', ['default/web'], [httpRoute('second', [], { directResponse: { status: 202 } })]),
      ],
    }),
  );
  const d = r.route(web, web.ports[0], req(), noRandom);
  assert.equal(d.kind === 'direct' && d.status, 201);
});

test('mirrors resolve to destinations for the request port; unresolvable ones are dropped', () => {
  const r = createRouter(
    mesh([web, reviews], {
      destinationRules: [reviewsDr],
      virtualServices: [
        vs('m', ['default/web'], [
          httpRoute('m', [], {
            route: [to('default/web')],
            mirrors: [
              { destination: { host: 'reviews', service: 'default/reviews', subset: 'v2' }, percent: 25 },
              { destination: { host: 'nope', service: 'default/nope' }, percent: 100 },
            ],
          }),
        ]),
      ],
    }),
  );
  const d = forward(r.route(web, web.ports[0], req(), noRandom));
  assert.equal(d.mirrors.length, 1);
  assert.equal(d.mirrors[0].percent, 25);
  assert.equal(d.mirrors[0].to.cluster, 'outbound|9080|v2|reviews.default.svc.cluster.local');
});
