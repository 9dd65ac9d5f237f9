// VirtualService tls routes (SNI) and tcp routes (port, destinationSubnets, source): read into the
// model with their destinations resolved, and refused as Istio refuses them, each problem at its field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigIssue } from '../../../src/config/model';
import { sniWithin } from '../../../src/config/kinds/vsl4';
import { docs, loadText, serviceEntry } from './helpers';

type Obj = Record<string, unknown>;

/** front (the VIP clients dial, hosts a/b.example.com, one TLS port), back-a and back-b (TLS backends). */
const SERVICES: readonly Obj[] = [
  serviceEntry('front', {
    hosts: ['a.example.com', 'b.example.com', '*.wild.example.com'],
    addresses: ['127.0.10.20'],
    ports: [{ number: 443, name: 'tls', protocol: 'TLS' }, { number: 8443, name: 'https-alt', protocol: 'HTTPS' }],
    resolution: 'STATIC',
    endpoints: [{ address: '127.0.0.20' }],
  }),
  serviceEntry('back-a', { hosts: ['back-a.default.svc.cluster.local'], addresses: ['127.0.10.21'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], endpoints: [{ address: '127.0.0.21' }] }),
  serviceEntry('back-b', { hosts: ['back-b.default.svc.cluster.local'], addresses: ['127.0.10.22'], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], endpoints: [{ address: '127.0.0.22' }] }),
];
const FIRST = SERVICES.length;

const vs = (spec: Obj, name = 'front'): Obj => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name }, spec });
const to = (host: string, weight?: number): Obj => ({ destination: { host, port: { number: 443 } }, ...(weight === undefined ? {} : { weight }) });
const HOSTS = ['a.example.com', 'b.example.com'];
const tls = (...routes: Obj[]): Obj => vs({ hosts: HOSTS, tls: routes });
const load = (...objects: Obj[]): ReturnType<typeof loadText> => loadText(docs(...SERVICES, ...objects));

test('tls and tcp routes are read into the model, destinations resolved', () => {
  const r = load(
    vs({
      hosts: [...HOSTS, '*.wild.example.com'],
      tls: [
        { match: [{ sniHosts: ['A.example.com'], port: 443 }], route: [to('back-a')] },
        { match: [{ sniHosts: ['b.example.com', '*.wild.example.com'], destinationSubnets: ['127.0.10.0/24'] }, { sniHosts: ['b.example.com'], sourceNamespace: 'shop', sourceLabels: { app: 'c' } }], route: [to('back-a', 30), to('back-b', 70)] },
      ],
      tcp: [{ match: [{ port: 8443, destinationSubnets: ['127.0.10.20'] }, { sourceLabels: { app: 'x' }, gateways: ['mesh'] }], route: [to('back-b')] }, { route: [to('back-a')] }],
    }),
  );
  assert.ok(r.ok, r.ok ? '' : describe(r.issues));
  const v = r.config.traffic!.virtualServices[0]!;
  assert.deepEqual(v.services, ['default/front']);
  const dest = (name: string): Obj => ({ host: name, service: `default/${name}`, port: 443 });
  assert.deepEqual(v.tls, [
    { match: [{ port: 443, sniHosts: ['a.example.com'] }], route: [{ destination: dest('back-a'), weight: 100 }] },
    {
      match: [
        { destinationSubnets: ['127.0.10.0/24'], sniHosts: ['b.example.com', '*.wild.example.com'] },
        { sourceLabels: { app: 'c' }, sourceNamespace: 'shop', sniHosts: ['b.example.com'] },
      ],
      route: [{ destination: dest('back-a'), weight: 30 }, { destination: dest('back-b'), weight: 70 }],
    },
  ]);
  assert.deepEqual(v.tcp, [
    { match: [{ port: 8443, destinationSubnets: ['127.0.10.20'] }, { sourceLabels: { app: 'x' } }], route: [{ destination: dest('back-b'), weight: 100 }] },
    { match: [], route: [{ destination: dest('back-a'), weight: 100 }] },
  ]);
});

test('a VirtualService of only tls routes is valid; a short host covers its expanded SNI', () => {
  const r = load(vs({ hosts: ['back-a'], tls: [{ match: [{ sniHosts: ['back-a.default.svc.cluster.local'] }], route: [to('back-a')] }] }));
  assert.ok(r.ok, r.ok ? '' : describe(r.issues));
});

const T0 = 'spec.tls[0]';
const BAD: readonly { name: string; doc: Obj; field: string; message: string }[] = [
  { name: 'tls route without match', doc: tls({ route: [to('back-a')] }), field: `${T0}.match`, message: 'a tls route needs at least one match entry with sniHosts (Istio requires it)' },
  { name: 'tls route with empty match', doc: tls({ match: [], route: [to('back-a')] }), field: `${T0}.match`, message: 'needs at least one match entry' },
  { name: 'tls match without sniHosts', doc: tls({ match: [{ port: 443 }], route: [to('back-a')] }), field: `${T0}.match[0]`, message: 'sniHosts is required' },
  { name: 'tls match with empty sniHosts', doc: tls({ match: [{ sniHosts: [] }], route: [to('back-a')] }), field: `${T0}.match[0].sniHosts`, message: 'must' },
  { name: 'sni host outside the hosts', doc: tls({ match: [{ sniHosts: ['c.example.com'] }], route: [to('back-a')] }), field: `${T0}.match[0].sniHosts[0]`, message: "SNI host c.example.com is not within the VirtualService's hosts (a.example.com, b.example.com)" },
  { name: 'wildcard sni wider than the hosts', doc: tls({ match: [{ sniHosts: ['*.example.com'] }], route: [to('back-a')] }), field: `${T0}.match[0].sniHosts[0]`, message: 'is not within' },
  { name: 'sni host not a name', doc: tls({ match: [{ sniHosts: ['a b'] }], route: [to('back-a')] }), field: `${T0}.match[0].sniHosts[0]`, message: 'is not a valid host' },
  { name: 'duplicate sni host', doc: tls({ match: [{ sniHosts: ['a.example.com', 'A.example.com'] }], route: [to('back-a')] }), field: `${T0}.match[0].sniHosts[1]`, message: 'duplicate SNI host a.example.com' },
  { name: 'tls route without route', doc: tls({ match: [{ sniHosts: ['a.example.com'] }] }), field: `${T0}.route`, message: 'required field is missing' },
  { name: 'tls weights', doc: tls({ match: [{ sniHosts: ['a.example.com'] }], route: [to('back-a', 0), to('back-b', 0)] }), field: `${T0}.route`, message: 'all weights are 0' },
  { name: 'tls destination unknown', doc: tls({ match: [{ sniHosts: ['a.example.com'] }], route: [to('back-c')] }), field: `${T0}.route[0].destination.host`, message: 'host back-c matches no ServiceEntry host' },
  { name: 'bad subnet', doc: tls({ match: [{ sniHosts: ['a.example.com'], destinationSubnets: ['10.0.0.0/33'] }], route: [to('back-a')] }), field: `${T0}.match[0].destinationSubnets[0]`, message: 'is not an IPv4 address or CIDR' },
  { name: 'bad port', doc: tls({ match: [{ sniHosts: ['a.example.com'], port: 0 }], route: [to('back-a')] }), field: `${T0}.match[0].port`, message: 'must be between 1 and 65535' },
  { name: 'bad source namespace', doc: tls({ match: [{ sniHosts: ['a.example.com'], sourceNamespace: 'Not_A_NS' }], route: [to('back-a')] }), field: `${T0}.match[0].sourceNamespace`, message: 'Not_A_NS' },
  { name: 'gateway', doc: tls({ match: [{ sniHosts: ['a.example.com'], gateways: ['gw'] }], route: [to('back-a')] }), field: `${T0}.match[0].gateways`, message: 'match entries for other gateways are not supported yet in a VirtualService that serves the mesh' },
  { name: 'unknown match field', doc: tls({ match: [{ sniHost: ['a.example.com'] }], route: [to('back-a')] }), field: `${T0}.match[0].sniHost`, message: 'sniHosts' },
  { name: 'sni host * (hosts cannot be *)', doc: vs({ hosts: ['*.example.com'], tls: [{ match: [{ sniHosts: ['*'] }], route: [to('back-a')] }] }), field: `${T0}.match[0].sniHosts[0]`, message: 'SNI host * is not within' },
  { name: 'tcp match with sniHosts', doc: vs({ hosts: HOSTS, tcp: [{ match: [{ sniHosts: ['a.example.com'] }], route: [to('back-a')] }] }), field: 'spec.tcp[0].match[0].sniHosts', message: 'move this route under tls' },
  { name: 'tcp bad subnet', doc: vs({ hosts: HOSTS, tcp: [{ match: [{ destinationSubnets: ['fd00::/8'] }], route: [to('back-a')] }] }), field: 'spec.tcp[0].match[0].destinationSubnets[0]', message: 'is not an IPv4 address or CIDR' },
  { name: 'tls not a list', doc: vs({ hosts: HOSTS, tls: { match: [] } }), field: 'spec.tls', message: 'must be a list' },
];

for (const c of BAD) {
  test(`VirtualService rejects: ${c.name}`, () => {
    const r = load(c.doc);
    assert.equal(r.ok, false, 'expected the config to be rejected');
    if (r.ok) return;
    const hit = r.issues.find((i) => i.field === c.field && i.message.includes(c.message) && i.document === FIRST);
    assert.ok(hit, `no issue at ${c.field} with "${c.message}" in:\n${describe(r.issues)}`);
  });
}

test('sniWithin: Istio host.Name.SubsetOf, and short hosts in their expanded form', () => {
  const rows: [string, string, boolean][] = [
    ['a.example.com', 'a.example.com', true],
    ['a.example.com', 'b.example.com', false],
    ['a.example.com', '*.example.com', true],
    ['x.a.example.com', '*.example.com', true],
    ['example.com', '*.example.com', false],
    ['*.example.com', '*.example.com', true],
    ['*.a.example.com', '*.example.com', true],
    ['*.example.com', '*.a.example.com', false],
    ['*.example.com', 'a.example.com', false],
    ['*', '*.example.com', false],
    ['*', '*', true],
    ['anything.io', '*', true],
    ['web.shop.svc.cluster.local', 'web', true],
    ['web.shop.svc.cluster.local', 'web.shop', true],
    ['web', 'web', true],
    ['web.other.svc.cluster.local', 'web', false],
  ];
  for (const [sni, host, want] of rows) assert.equal(sniWithin(sni, host, 'shop'), want, `${sni} within ${host}`);
});

function describe(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `  [doc ${i.document}] ${i.field ?? '-'}: ${i.message}`).join('\n');
}
