// A misspelled field that a "must set one of" / "at least one of" rule names is one problem: the "did you
// mean" is reported, the rule's "must set" is not. A key near no field of the rule leaves the rule's
// message in place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigIssue } from '../../../src/config/model';
import { docs, loadText } from './helpers';
import { REVIEWS_DR, dr, rateLimit, reviewsVs, to, withServices } from './traffic-helpers';

type Obj = Record<string, unknown>;

interface Case {
  readonly name: string;
  readonly yaml: string;
  /** Every issue of the config, `field: message`, in order. */
  readonly want: readonly string[];
}

const show = (list: readonly ConfigIssue[]): string[] => list.map((i) => `${i.field}: ${i.message}`);
const authz = (operation: Obj): string =>
  docs({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'shop' }, spec: { rules: [{ to: [{ operation }] }] } });
const when = (condition: Obj): string =>
  docs({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'shop' }, spec: { rules: [{ when: [condition] }] } });
const route = (fields: Obj): string => withServices(REVIEWS_DR, reviewsVs({ ...to('reviews'), ...fields }));
const policy = (trafficPolicy: Obj): string => withServices(dr('reviews', { host: 'reviews', trafficPolicy }));
const perKey = (k: Obj): string => withServices(rateLimit('rl', { host: 'reviews', tokenBucket: { maxTokens: 10, fillInterval: '1s' }, perKey: k }));
const healthCheck = (spec: Obj): string => withServices({ apiVersion: 'nodemesh.io/v1alpha1', kind: 'HealthCheck', metadata: { name: 'hc' }, spec: { host: 'reviews', ...spec } });
const OP = 'spec.rules[0].to[0].operation';
const H0 = 'spec.http[0]';
const TP = 'spec.trafficPolicy';

const CASES: readonly Case[] = [
  // AuthorizationPolicy: a source or operation sets at least one field; a condition values or notValues.
  { name: 'operation: methds', yaml: authz({ methds: ['GET'] }), want: [`${OP}.methds: unknown field (did you mean "methods"?)`] },
  { name: 'operation: a key near no field', yaml: authz({ verbs: ['GET'] }), want: [`${OP}.verbs: unknown field`, `${OP}: must set at least one field (leave the operation out to match any operation)`] },
  { name: 'condition: valus', yaml: when({ key: 'source.ip', valus: ['10.0.0.1'] }), want: ['spec.rules[0].when[0].valus: unknown field (did you mean "values"?)'] },
  // VirtualService: a StringMatch, a route's action, redirect, rewrite, fault, direct response body.
  { name: 'uri: prefx', yaml: route({ match: [{ uri: { prefx: '/api' } }] }), want: [`${H0}.match[0].uri.prefx: unknown field (did you mean "prefix"?)`] },
  { name: 'uri: a key near no kind', yaml: route({ match: [{ uri: { starts: '/api' } }] }), want: [`${H0}.match[0].uri.starts: unknown field`, `${H0}.match[0].uri: must set one of exact, prefix, regex`] },
  { name: 'redirect: ur', yaml: withServices(reviewsVs({ redirect: { ur: '/new' } })), want: [`${H0}.redirect.ur: unknown field (did you mean "uri"?)`] },
  { name: 'rewrite: authorty', yaml: route({ rewrite: { authorty: 'b' } }), want: [`${H0}.rewrite.authorty: unknown field (did you mean "authority"?)`] },
  { name: 'fault: delya', yaml: route({ fault: { delya: { fixedDelay: '1s', percentage: { value: 10 } } } }), want: [`${H0}.fault.delya: unknown field (did you mean "delay"?)`] },
  { name: 'directResponse body: strng', yaml: withServices(reviewsVs({ directResponse: { status: 200, body: { strng: 'hi' } } })), want: [`${H0}.directResponse.body.strng: unknown field (did you mean "string"?)`] },
  // DestinationRule: loadBalancer, consistentHash, connectionPool.
  { name: 'loadBalancer: simpel', yaml: policy({ loadBalancer: { simpel: 'RANDOM' } }), want: [`${TP}.loadBalancer.simpel: unknown field (did you mean "simple"?)`] },
  { name: 'consistentHash: useSourceIP', yaml: policy({ loadBalancer: { consistentHash: { useSourceIP: true } } }), want: [`${TP}.loadBalancer.consistentHash.useSourceIP: unknown field (did you mean "useSourceIp"?)`] },
  { name: 'connectionPool: tpc', yaml: policy({ connectionPool: { tpc: { maxConnections: 10 } } }), want: [`${TP}.connectionPool.tpc: unknown field (did you mean "tcp"?)`] },
  // LocalRateLimit and HealthCheck: exactly one of two, none given but one misspelled.
  { name: 'perKey: headr', yaml: perKey({ headr: 'x-user' }), want: ['spec.perKey.headr: unknown field (did you mean "header"?)'] },
  { name: 'HealthCheck: htp', yaml: healthCheck({ htp: { path: '/healthz' } }), want: ['spec.htp: unknown field (did you mean "http"?)'] },
];

for (const c of CASES) {
  test(`one-of rule with a misspelled field: ${c.name}`, () => {
    const r = loadText(c.yaml);
    assert.equal(r.ok, false, c.name);
    if (r.ok) return;
    assert.deepEqual(show(r.issues), c.want);
  });
}
