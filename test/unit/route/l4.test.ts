// Connection routing by SNI (VirtualService tls routes), then tcp routes, then the service itself:
// the pure decision, as tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileL4Match, firstMatch, sniMatches, type ConnView } from '../../../src/route/l4';
import { createRouter } from '../../../src/route/router';
import type { TlsRoute, TcpRoute } from '../../../src/config/traffic';
import { mesh, svc, to, vs } from './helpers';

const conn = (sni: string | undefined, over: Partial<ConnView> = {}): ConnView => ({ sni, dst: '10.96.0.10', sourceLabels: {}, sourceNamespace: 'default', ...over });
const noRandom = (): number => 0;

test('sniMatches: exact, wildcard below a domain, *', () => {
  const rows: [string, string, boolean][] = [
    ['a.example.com', 'a.example.com', true],
    ['a.example.com', 'b.example.com', false],
    ['a.example.com', 'a.example.com.evil', false],
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'x.y.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'aexample.com', false],
    ['*', 'anything', true],
  ];
  for (const [pattern, sni, want] of rows) assert.equal(sniMatches(pattern, sni), want, `${pattern} ~ ${sni}`);
});

test('compileL4Match: every condition of an entry must hold', () => {
  const rows: [string, Parameters<typeof compileL4Match>[0], ConnView, number, boolean][] = [
    ['empty entry', {}, conn(undefined), 443, true],
    ['port', { port: 443 }, conn(undefined), 443, true],
    ['other port', { port: 443 }, conn(undefined), 8443, false],
    ['subnet holds the VIP', { destinationSubnets: ['10.96.0.0/16'] }, conn(undefined), 443, true],
    ['one of two subnets', { destinationSubnets: ['192.168.0.0/16', '10.96.0.10'] }, conn(undefined), 443, true],
    ['subnet misses', { destinationSubnets: ['10.97.0.0/16'] }, conn(undefined), 443, false],
    ['no VIP known', { destinationSubnets: ['0.0.0.0/0'] }, conn(undefined, { dst: '' }), 443, false],
    ['source namespace', { sourceNamespace: 'shop' }, conn(undefined, { sourceNamespace: 'shop' }), 443, true],
    ['other namespace', { sourceNamespace: 'shop' }, conn(undefined), 443, false],
    ['source labels', { sourceLabels: { app: 'c', v: '1' } }, conn(undefined, { sourceLabels: { app: 'c', v: '1', x: 'y' } }), 443, true],
    ['a label missing', { sourceLabels: { app: 'c', v: '1' } }, conn(undefined, { sourceLabels: { app: 'c' } }), 443, false],
    ['sni', { sniHosts: ['a.example.com'] }, conn('a.example.com'), 443, true],
    ['sni, no hello', { sniHosts: ['*'] }, conn(undefined), 443, false],
    ['sni and port', { sniHosts: ['a.example.com'], port: 443 }, conn('a.example.com'), 8443, false],
  ];
  for (const [name, m, c, port, want] of rows) assert.equal(compileL4Match(m)(c, port), want, name);
});

test('firstMatch: routes in order, entries ORed, none → undefined', () => {
  const routes = [
    { id: 'a', tests: [compileL4Match({ sniHosts: ['a.example.com'] })] },
    { id: 'wild', tests: [compileL4Match({ sniHosts: ['*.example.com'] })] },
    { id: 'b-or-c', tests: [compileL4Match({ sniHosts: ['b.example.org'] }), compileL4Match({ sniHosts: ['c.example.org'] })] },
  ];
  const rows: [string | undefined, string | undefined][] = [
    ['a.example.com', 'a'],
    ['b.example.com', 'wild'],
    ['c.example.org', 'b-or-c'],
    ['d.example.org', undefined],
    [undefined, undefined],
  ];
  for (const [sni, want] of rows) assert.equal(firstMatch(routes, conn(sni), 443)?.id, want, String(sni));
});

test('router: tls routes by SNI, then tcp routes, then the service itself', () => {
  const front = svc('front', [443, 8443]);
  const [a, b, c, d] = ['back-a', 'back-b', 'back-c', 'back-d'].map((n) => svc(n, [443]));
  const dest = (name: string): ReturnType<typeof to> => to(`default/${name}`, 100, { port: 443 });
  const tls: TlsRoute[] = [
    { match: [{ sniHosts: ['a.example.com'] }], route: [dest('back-a')] },
    { match: [{ sniHosts: ['*.example.com'], port: 8443 }], route: [dest('back-c')] },
    { match: [{ sniHosts: ['b.example.com', 'x.example.com'] }, { sniHosts: ['*.b.example.com'] }], route: [{ ...dest('back-a'), weight: 20 }, { ...dest('back-b'), weight: 80 }] },
  ];
  const tcp: TcpRoute[] = [{ match: [{ destinationSubnets: ['10.96.9.0/24'] }], route: [dest('back-d')] }];
  const r = createRouter(mesh([front, a!, b!, c!, d!], { virtualServices: [{ ...vs('front', ['default/front'], [], tcp), tls }] }));
  const p443 = front.ports[0]!;
  const p8443 = front.ports[1]!;
  const rows: [string, ConnView, typeof p443, number, string][] = [
    ['exact SNI', conn('a.example.com'), p443, 0, 'default/back-a'],
    ['exact wins over a later wildcard, on any port', conn('a.example.com'), p8443, 0, 'default/back-a'],
    ['wildcard with its port', conn('z.example.com'), p8443, 0, 'default/back-c'],
    ['wildcard, other port: no tls route', conn('z.example.com'), p443, 0, 'default/front'],
    ['second name of an entry, weighted low', conn('x.example.com'), p443, 0.1, 'default/back-a'],
    ['second name of an entry, weighted high', conn('x.example.com'), p443, 0.5, 'default/back-b'],
    ['second entry of a route', conn('q.b.example.com'), p443, 0.5, 'default/back-b'],
    ['earlier route first (wildcard on 8443)', conn('b.example.com'), p8443, 0.5, 'default/back-c'],
    ['no SNI: tcp route by subnet', conn(undefined, { dst: '10.96.9.1' }), p443, 0, 'default/back-d'],
    ['unmatched SNI: tcp route', conn('nope.example.org', { dst: '10.96.9.1' }), p443, 0, 'default/back-d'],
    ['no match anywhere: the service', conn('nope.example.org'), p443, 0, 'default/front'],
    ['no SNI, no tcp match: the service', conn(undefined), p443, 0, 'default/front'],
  ];
  for (const [name, c, port, x, want] of rows) assert.equal(r.routeTcp(front, port, () => x, c)?.service.key, want, name);
  assert.equal(r.hasTlsRoutes?.(front), true);
  assert.equal(r.hasTlsRoutes?.(a!), false);
  // Without a connection view only port conditions can hold (the subnet route does not).
  assert.equal(r.routeTcp(front, p443, noRandom)?.service.key, 'default/front');
});
