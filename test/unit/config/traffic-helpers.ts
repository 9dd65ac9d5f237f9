// Shared by the traffic config tests: a few services to route between, and document builders.
import { docs, serviceEntry } from './helpers';

type Obj = Record<string, unknown>;

/** reviews (one port, v1/v2 endpoints), ratings (one port), multi in namespace shop (two ports), api (an external name). */
export const SERVICES: readonly Obj[] = [
  serviceEntry('reviews', {
    hosts: ['reviews.default.svc.cluster.local'],
    addresses: ['127.0.10.1'],
    ports: [{ number: 9080, name: 'http' }],
    resolution: 'STATIC',
    endpoints: [{ address: '127.0.0.2', labels: { version: 'v1' } }, { address: '127.0.0.3', labels: { version: 'v2' } }],
  }),
  serviceEntry('ratings', {
    hosts: ['ratings.default.svc.cluster.local'],
    addresses: ['127.0.10.2'],
    ports: [{ number: 8080, name: 'http' }],
    resolution: 'STATIC',
    endpoints: [{ address: '127.0.0.4' }],
  }),
  serviceEntry(
    'multi',
    {
      hosts: ['multi.shop.svc.cluster.local'],
      addresses: ['127.0.10.3'],
      ports: [{ number: 80, name: 'http' }, { number: 9000, name: 'tcp-raw' }],
      resolution: 'STATIC',
      endpoints: [{ address: '127.0.0.5' }],
    },
    { namespace: 'shop' },
  ),
  serviceEntry('api', {
    hosts: ['api.example.com'],
    addresses: ['127.0.10.4'],
    ports: [{ number: 80, name: 'http' }],
    resolution: 'STATIC',
    endpoints: [{ address: '127.0.0.6' }],
  }),
];

export function vs(name: string, spec: Obj, meta: Obj = {}, version = 'v1'): Obj {
  return { apiVersion: `networking.istio.io/${version}`, kind: 'VirtualService', metadata: { name, ...meta }, spec };
}

export function dr(name: string, spec: Obj, meta: Obj = {}, version = 'v1'): Obj {
  return { apiVersion: `networking.istio.io/${version}`, kind: 'DestinationRule', metadata: { name, ...meta }, spec };
}

export function rateLimit(name: string, spec: Obj, meta: Obj = {}): Obj {
  return { apiVersion: 'nodemesh.io/v1alpha1', kind: 'LocalRateLimit', metadata: { name, ...meta }, spec };
}

/** The services above followed by OBJECTS, as one YAML text (the services are documents 0..3). */
export function withServices(...objects: Obj[]): string {
  return docs(...SERVICES, ...objects);
}

/** Index of the first document after the services. */
export const FIRST = SERVICES.length;

/** A VirtualService for reviews with HTTP routes ROUTES. */
export function reviewsVs(...routes: Obj[]): Obj {
  return vs('reviews', { hosts: ['reviews'], http: routes });
}

/** An http route to DESTINATION (host, and subset/port when given). */
export function to(host: string, more: Obj = {}): Obj {
  return { route: [{ destination: { host, ...more } }] };
}

/** reviews' DestinationRule with subsets v1 and v2. */
export const REVIEWS_DR: Obj = dr('reviews', {
  host: 'reviews',
  subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }],
});
