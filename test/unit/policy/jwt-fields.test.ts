// RequestAuthentication fields fromCookies, timeout, spaceDelimitedClaims and targetRef(s): read from
// YAML into the model, tokens read from cookies, jwksUri fetches bounded by the rule's timeout,
// space-delimited claims matched word by word in `when` conditions, and policies applied by service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuthzPolicy, JwtRule, RequestAuthn } from '../../../src/config/model';
import { JwksCache } from '../../../src/identity/jwks';
import { compileAuthz, type AuthzRequest } from '../../../src/policy/authz';
import { authOf, cookieValue, extractTokens, jwtRulesFor } from '../../../src/policy/jwt';
import { docs, loadText, mustLoad } from '../config/helpers';

const ISS = 'https://issuer.example';
const rule = (over: Partial<JwtRule> = {}): JwtRule => ({ issuer: ISS, audiences: [], jwksUri: 'http://keys/jwks', fromHeaders: [], fromParams: [], forwardOriginalToken: false, outputClaimToHeaders: [], ...over });
const source = (headers: Record<string, string>, path = '/'): { header(n: string): string | undefined; path: string } => ({ header: (n) => headers[n], path });
const ra = (jwtRule: Record<string, unknown>): string =>
  docs({ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'ra', namespace: 'foo' }, spec: { jwtRules: [{ issuer: ISS, jwksUri: 'https://issuer.example/jwks', ...jwtRule }] } });

test('cookieValue: the named cookie of a Cookie header', () => {
  const rows: [string | undefined, string, string | undefined][] = [
    [undefined, 'session', undefined],
    ['session=abc', 'session', 'abc'],
    ['a=1; session=abc; b=2', 'session', 'abc'],
    ['a=1;session=abc', 'session', 'abc'],
    ['a=1, session=abc', 'session', 'abc'],
    ['session="q.r.s"', 'session', 'q.r.s'],
    ['xsession=abc', 'session', undefined],
    ['session=first; session=second', 'session', 'first'],
    ['session=', 'session', ''],
    ['Session=abc', 'session', undefined],
    ['novalue; session=t', 'session', 't'],
  ];
  for (const [header, name, want] of rows) assert.equal(cookieValue(header, name), want, `${header} ${name}`);
});

test('extraction from cookies: only the named cookies, alongside headers and params; the defaults otherwise', () => {
  const cases: [JwtRule[], Record<string, string>, string, string[]][] = [
    [[rule({ fromCookies: ['session'] })], { cookie: 'a=1; session=c1' }, '/', ['c1']],
    [[rule({ fromCookies: ['session'] })], { authorization: 'Bearer abc', cookie: 'session=c1' }, '/?access_token=q', ['c1']],
    [[rule({ fromCookies: ['session'] })], { cookie: 'other=c1' }, '/', []],
    [[rule({ fromCookies: ['session'] })], {}, '/', []],
    [[rule({ fromCookies: ['s1', 's2'] })], { cookie: 's2=b; s1=a' }, '/', ['a', 'b']],
    [[rule({ fromHeaders: [{ name: 'x-jwt', prefix: '' }], fromCookies: ['session'] })], { 'x-jwt': 'h1', cookie: 'session=c1' }, '/', ['h1', 'c1']],
    [[rule({ fromCookies: ['session'] }), rule({ issuer: 'other', fromCookies: ['session'] })], { cookie: 'session=c1' }, '/', ['c1']],
    [[rule()], { cookie: 'session=c1' }, '/', []],
  ];
  for (const [rules, headers, path, want] of cases) {
    assert.deepEqual(extractTokens(rules, source(headers, path)).map((t) => t.token), want, `${JSON.stringify(headers)} ${path}`);
  }
});

test('authOf: scope and permission, and the rule\'s spaceDelimitedClaims, become lists of words', () => {
  const rows: [Record<string, unknown>, string[], Record<string, unknown>][] = [
    [{ scope: 'read write' }, [], { scope: ['read', 'write'] }],
    [{ permission: 'a  b' }, [], { permission: ['a', 'b'] }],
    [{ scope: ['read write'] }, [], { scope: ['read write'] }],
    [{ custom: 'x y' }, [], { custom: 'x y' }],
    [{ custom: 'x y' }, ['custom'], { custom: ['x', 'y'] }],
    [{ 'provider.login.scope': 'p q' }, ['provider.login.scope'], { 'provider.login.scope': ['p', 'q'] }],
    [{ custom: 7 }, ['custom'], { custom: 7 }],
    [{ nested: { custom: 'x y' } }, ['custom'], { nested: { custom: 'x y' } }],
  ];
  for (const [claims, extra, want] of rows) {
    const payload = { iss: ISS, sub: 'alice', ...claims };
    assert.deepEqual(authOf(payload, extra).claims, { iss: ISS, sub: 'alice', ...want }, JSON.stringify(claims));
  }
});

test('`when` request.auth.claims matches one word of a space-delimited claim', () => {
  const policy = (key: string, values: string[]): AuthzPolicy => ({ name: 'p', namespace: 'foo', selector: undefined, action: 'ALLOW', rules: [{ when: [{ key, values }] }] });
  const request = (claims: Record<string, unknown>, extra: string[] = []): AuthzRequest => ({
    source: { principal: 'cluster.local/ns/default/sa/sleep', ip: '10.0.0.5' },
    destination: { ip: '10.1.0.1', port: 8080 },
    http: { method: 'GET', path: '/', host: 'web', headers: {} },
    auth: authOf({ iss: ISS, sub: 'alice', ...claims }, extra),
  });
  const rows: [string, string[], AuthzRequest, boolean][] = [
    ['request.auth.claims[scope]', ['write'], request({ scope: 'read write' }), true],
    ['request.auth.claims[scope]', ['read write'], request({ scope: 'read write' }), false],
    ['request.auth.claims[scope]', ['adm*'], request({ scope: 'read admin' }), true],
    ['request.auth.claims[custom]', ['y'], request({ custom: 'x y' }), false],
    ['request.auth.claims[custom]', ['x y'], request({ custom: 'x y' }), true],
    ['request.auth.claims[custom]', ['y'], request({ custom: 'x y' }, ['custom']), true],
  ];
  for (const [key, values, req, want] of rows) assert.equal(compileAuthz([policy(key, values)]).authorize(req).allowed, want, `${key} ${values.join()}`);
});

test('RequestAuthentication reads fromCookies, timeout and spaceDelimitedClaims', () => {
  const c = mustLoad(ra({ fromCookies: ['session', 'jwt'], timeout: '2.5s', spaceDelimitedClaims: ['custom_scope', 'provider.login.scope'] }));
  const r = c.requestAuthentications?.[0]?.jwtRules[0];
  assert.deepEqual(r?.fromCookies, ['session', 'jwt']);
  assert.equal(r?.timeoutMs, 2500);
  assert.deepEqual(r?.spaceDelimitedClaims, ['custom_scope', 'provider.login.scope']);
  const plain = mustLoad(ra({})).requestAuthentications?.[0]?.jwtRules[0];
  assert.equal(plain?.fromCookies, undefined);
  assert.equal(plain?.timeoutMs, undefined);
  assert.equal(plain?.spaceDelimitedClaims, undefined);
});

test('RequestAuthentication refuses bad fromCookies, timeout and spaceDelimitedClaims values', () => {
  const rows: [Record<string, unknown>, string, string][] = [
    [{ fromCookies: ['a b'] }, 'spec.jwtRules[0].fromCookies[0]', 'is not a cookie name'],
    [{ fromCookies: 'session' }, 'spec.jwtRules[0].fromCookies', 'must be a list'],
    [{ timeout: 'soon' }, 'spec.jwtRules[0].timeout', ''],
    [{ timeout: 5 }, 'spec.jwtRules[0].timeout', 'must be a duration string'],
    [{ spaceDelimitedClaims: [''] }, 'spec.jwtRules[0].spaceDelimitedClaims[0]', 'must not be empty'],
  ];
  for (const [fields, field, message] of rows) {
    const r = loadText(ra(fields));
    assert.equal(r.ok, false, JSON.stringify(fields));
    if (r.ok) continue;
    assert.ok(r.issues.some((i) => i.field === field && i.message.includes(message)), `${field}: ${message} in ${JSON.stringify(r.issues)}`);
  }
});

test('jwksUri fetch: the rule\'s timeout bounds it, not the cache default', async () => {
  const failures: string[] = [];
  const cache = new JwksCache({
    timeoutMs: 600_000,
    // Answers only when aborted: the fetch ends by the timeout it was given.
    fetch: ((_uri: string, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(new Error('aborted by timeout')));
      })) as typeof fetch,
    onFailure: (issuer, _uri, reason) => failures.push(`${issuer}: ${reason}`),
  });
  try {
    cache.sync([{ uri: 'http://a/jwks', issuer: 'a', timeoutMs: 20 }]);
    await cache.settled();
    assert.deepEqual(failures, ['a: aborted by timeout']);
    assert.equal(cache.keys('http://a/jwks'), undefined);
  } finally {
    cache.close();
  }
});

test('targetRef(s): a Service or ServiceEntry of the policy namespace, as service keys', () => {
  const rows: [Record<string, unknown>, string[]][] = [
    [{ targetRef: { kind: 'Service', name: 'web' } }, ['foo/web']],
    [{ targetRef: { kind: 'Service', group: '', name: 'web', namespace: 'foo' } }, ['foo/web']],
    [{ targetRefs: [{ kind: 'Service', group: 'core', name: 'a' }, { kind: 'ServiceEntry', group: 'networking.istio.io', name: 'b' }] }, ['foo/a', 'foo/b']],
  ];
  for (const [spec, want] of rows) {
    const text = docs({ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'ra', namespace: 'foo' }, spec: { ...spec, jwtRules: [{ issuer: ISS, jwksUri: 'https://issuer.example/jwks' }] } });
    assert.deepEqual(mustLoad(text).requestAuthentications?.[0]?.targetServices, want, JSON.stringify(spec));
  }
});

test('jwtRulesFor: targetRef(s) policies apply to requests addressed to their services only', () => {
  const r = (issuer: string): JwtRule => rule({ issuer });
  const policy = (name: string, namespace: string, over: Partial<RequestAuthn>): RequestAuthn => ({ name, namespace, selector: undefined, jwtRules: [r(name)], ...over });
  const all: RequestAuthn[] = [
    policy('ns-wide', 'foo', {}),
    policy('by-label', 'foo', { selector: { app: 'web' } }),
    policy('by-service', 'foo', { targetServices: ['foo/web'] }),
    policy('other-service', 'foo', { targetServices: ['foo/api'] }),
    policy('mesh', 'istio-system', {}),
  ];
  const web = { namespace: 'foo', labels: { app: 'web' } } as Parameters<typeof jwtRulesFor>[0];
  const other = { namespace: 'bar', labels: {} } as Parameters<typeof jwtRulesFor>[0];
  const rows: [Parameters<typeof jwtRulesFor>[0], string | undefined, string[]][] = [
    [web, 'foo/web', ['ns-wide', 'by-label', 'by-service', 'mesh']],
    [web, 'foo/api', ['ns-wide', 'by-label', 'other-service', 'mesh']],
    [web, undefined, ['ns-wide', 'by-label', 'mesh']],
    [other, 'foo/web', ['by-service', 'mesh']],
  ];
  for (const [w, service, want] of rows) assert.deepEqual(jwtRulesFor(w, all, undefined, service).map((x) => x.issuer), want, `${w.namespace} ${service ?? '-'}`);
});
