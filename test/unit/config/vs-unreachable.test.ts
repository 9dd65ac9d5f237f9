// Routes that can never be chosen load, as in Istio (only its analyzer warns): each is a warning naming its
// field, and the route table keeps every route in order (the first match wins, so they are never chosen).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { docs, loadText, serviceEntry } from './helpers';
import { FIRST, reviewsVs, to, vs, withServices } from './traffic-helpers';

type Obj = Record<string, unknown>;

const TLS_SERVICES: readonly Obj[] = [
  serviceEntry('front', { hosts: ['a.example.com'], addresses: ['127.0.10.20'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'STATIC', endpoints: [{ address: '127.0.0.20' }] }),
  serviceEntry('back', { hosts: ['back.default.svc.cluster.local'], addresses: ['127.0.10.21'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], endpoints: [{ address: '127.0.0.21' }] }),
];
const tlsTo = { route: [{ destination: { host: 'back', port: { number: 443 } } }] };

interface Case {
  readonly name: string;
  /** The whole config text, and the index of the VirtualService in it. */
  readonly text: string;
  readonly doc: number;
  readonly field: string;
  readonly message: string;
  /** Routes of each kind the model keeps. */
  readonly routes: { readonly http?: number; readonly tcp?: number; readonly tls?: number };
}

const CASES: readonly Case[] = [
  { name: 'route after a catch-all', text: withServices(reviewsVs(to('reviews'), { match: [{ uri: { prefix: '/a' } }], ...to('ratings') })), doc: FIRST, field: 'spec.http[1]', message: 'route 1 is unreachable: route 0 before it matches every request; it is never chosen', routes: { http: 2 } },
  { name: 'route after an empty match', text: withServices(reviewsVs({ match: [{ uri: { exact: '/x' } }, { name: 'all' }], ...to('reviews') }, { match: [{ uri: { prefix: '/a' } }], ...to('ratings') })), doc: FIRST, field: 'spec.http[1]', message: 'route 1 is unreachable: route 0', routes: { http: 2 } },
  { name: 'route after prefix /', text: withServices(reviewsVs({ match: [{ uri: { prefix: '/' }, ignoreUriCase: true }], ...to('reviews') }, { match: [{ uri: { prefix: '/a' } }], ...to('ratings') }, to('ratings'))), doc: FIRST, field: 'spec.http[2]', message: 'route 2 is unreachable: route 0', routes: { http: 3 } },
  {
    name: 'repeated match entry',
    text: withServices(reviewsVs({ match: [{ name: 'x', uri: { prefix: '/a' }, headers: { b: { exact: '1' }, a: {} } }], ...to('reviews') }, { match: [{ uri: { exact: '/b' } }, { headers: { a: {}, B: { exact: '1' } }, uri: { prefix: '/a' } }], ...to('ratings') })),
    doc: FIRST,
    field: 'spec.http[1].match[1]',
    message: 'match entry is unreachable: route 0 before it has the same match',
    routes: { http: 2 },
  },
  {
    name: 'tcp route after a catch-all',
    text: withServices(vs('v', { hosts: ['multi.shop.svc.cluster.local'], tcp: [{ route: [{ destination: { host: 'multi.shop.svc.cluster.local', port: { number: 9000 } } }] }, { match: [{ port: 9000 }], route: [{ destination: { host: 'ratings' } }] }] })),
    doc: FIRST,
    field: 'spec.tcp[1]',
    message: 'tcp route 1 is unreachable: tcp route 0 before it matches every connection',
    routes: { tcp: 2 },
  },
  {
    name: 'tcp subnet route is not a catch-all',
    text: withServices(vs('v', { hosts: ['multi.shop.svc.cluster.local'], tcp: [{ match: [{ destinationSubnets: ['127.0.0.1'] }], route: [{ destination: { host: 'ratings' } }] }, { route: [{ destination: { host: 'ratings' } }] }, { route: [{ destination: { host: 'reviews' } }] }] })),
    doc: FIRST,
    field: 'spec.tcp[2]',
    message: 'tcp route 2 is unreachable: tcp route 1',
    routes: { tcp: 3 },
  },
  {
    name: 'repeated tls match',
    text: docs(...TLS_SERVICES, vs('front', { hosts: ['a.example.com'], tls: [{ match: [{ sniHosts: ['a.example.com'] }], ...tlsTo }, { match: [{ sniHosts: ['a.example.com'] }], ...tlsTo }] })),
    doc: TLS_SERVICES.length,
    field: 'spec.tls[1].match[0]',
    message: 'match entry is unreachable: tls route 0 before it has the same match',
    routes: { tls: 2 },
  },
];

for (const c of CASES) {
  test(`VirtualService warns, and keeps the route: ${c.name}`, () => {
    const r = loadText(c.text);
    assert.ok(r.ok, r.ok ? '' : r.issues.map((i) => `${i.field ?? '-'}: ${i.message}`).join('\n'));
    const hit = r.warnings.filter((w) => w.document === c.doc && w.field === c.field && w.message.includes(c.message));
    assert.equal(hit.length, 1, `one warning at ${c.field} with "${c.message}" in:\n${r.warnings.map((w) => `  [doc ${w.document}] ${w.field ?? '-'}: ${w.message}`).join('\n')}`);
    assert.equal(hit[0]?.kind, 'VirtualService');
    const v = r.config.traffic?.virtualServices[0];
    assert.ok(v !== undefined);
    assert.equal(v.http.length, c.routes.http ?? 0);
    assert.equal(v.tcp.length, c.routes.tcp ?? 0);
    assert.equal(v.tls?.length ?? 0, c.routes.tls ?? 0);
  });
}

test('VirtualService without dead routes has no unreachable warning', () => {
  const r = loadText(withServices(reviewsVs({ match: [{ uri: { prefix: '/a' } }], ...to('ratings') }, to('reviews'))));
  assert.ok(r.ok);
  assert.equal(r.warnings.filter((w) => w.message.includes('unreachable')).length, 0);
});
