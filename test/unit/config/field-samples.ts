// A sample value for every field of the Istio kinds, keyed `Kind path` as in docs/istio-fields.md. The
// value is set at the path (lists get one item) in the kind's smallest valid spec; `with` adds what the
// field needs beside it (spec-level, merged; `null` removes a field of the base spec).

export type Obj = Record<string, unknown>;
export interface SampleValue {
  readonly value: unknown;
  readonly with?: Obj;
  readonly metadata?: Obj;
  readonly docs?: readonly Obj[];
  /** Load as an agent with Kubernetes discovery (Secrets readable). */
  readonly secrets?: boolean;
}
/** A sample, or one built from the path of a PEM file written for the test (ca.pem, cert.pem, key.pem). */
export type Sample = SampleValue | ((pem: (name: string) => string) => SampleValue);

export const HOST = 'echo.default.svc.cluster.local';
const v = (value: unknown, more: Omit<SampleValue, 'value'> = {}): SampleValue => ({ value, ...more });
const http0 = (fields: Obj): Obj => ({ http: [fields] });
const noRoute = http0({ route: null });
const tcpRoute: Obj = { tcp: [{ route: [{ destination: { host: HOST, port: { number: 9000 } } }] }] };
const tlsRoute: Obj = { tls: [{ match: [{ sniHosts: [HOST] }], route: [{ destination: { host: HOST, port: { number: 443 } } }] }] };
const PCT = { value: 10 };
const lb = (fields: Obj): Obj => ({ trafficPolicy: { loadBalancer: fields } });
const hashBy = lb({ consistentHash: { httpHeaderName: 'x-user' } });
const mode = (m: string): Obj => ({ trafficPolicy: { tls: { mode: m } } });
const JWKS = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k' }] });

const SERVICE_ENTRY: Readonly<Record<string, Sample>> = {
  hosts: v([HOST]),
  addresses: v(['127.0.10.1']),
  'ports[].number': v(80),
  'ports[].protocol': v('HTTP'),
  'ports[].name': v('http'),
  'ports[].targetPort': v(18080),
  location: v('MESH_EXTERNAL'),
  resolution: v('STATIC'),
  'endpoints[].address': v('127.0.0.2'),
  'endpoints[].ports': v({ http: 8081 }),
  'endpoints[].labels': v({ version: 'v1' }),
  'endpoints[].network': v('net-1'),
  'endpoints[].locality': v('us-east/zone-a'),
  'endpoints[].weight': v(2),
  'endpoints[].serviceAccount': v('echo'),
  'workloadSelector.labels': v({ app: 'echo' }, { with: { endpoints: null } }),
  exportTo: v(['.']),
  subjectAltNames: v(['spiffe://cluster.local/ns/default/sa/echo']),
};

const WORKLOAD_ENTRY: Readonly<Record<string, Sample>> = {
  address: v('127.0.0.3'),
  ports: v({ http: 8080 }),
  labels: v({ app: 'echo', version: 'v2' }),
  network: v('net-1'),
  locality: v('us-east/zone-a'),
  weight: v(3),
  serviceAccount: v('echo'),
};

const VIRTUAL_SERVICE: Readonly<Record<string, Sample>> = {
  hosts: v([HOST]),
  gateways: v(['mesh']),
  exportTo: v(['*']),
  'http[].name': v('first'),
  'http[].match[].name': v('all'),
  'http[].match[].uri': v({ prefix: '/' }),
  'http[].match[].scheme': v({ exact: 'http' }),
  'http[].match[].method': v({ exact: 'GET' }),
  'http[].match[].authority': v({ prefix: 'echo' }),
  'http[].match[].headers': v({ 'x-canary': { exact: 'yes' } }),
  'http[].match[].port': v(80),
  'http[].match[].sourceLabels': v({ app: 'client' }),
  'http[].match[].gateways': v(['mesh']),
  'http[].match[].queryParams': v({ q: { exact: '1' } }),
  'http[].match[].ignoreUriCase': v(true, { with: http0({ match: [{ uri: { prefix: '/a' } }] }) }),
  'http[].match[].withoutHeaders': v({ 'x-skip': {} }),
  'http[].match[].sourceNamespace': v('default'),
  'http[].match[].statPrefix': v('stats'),
  'http[].route[].destination.host': v(HOST),
  'http[].route[].destination.subset': v('v1'),
  'http[].route[].destination.port.number': v(80),
  'http[].route[].weight': v(100),
  'http[].route[].headers': v({ request: { set: { 'x-a': '1' } } }),
  'http[].redirect.uri': v('/moved', { with: noRoute }),
  'http[].redirect.authority': v('other.example', { with: noRoute }),
  'http[].redirect.port': v(8080, { with: noRoute }),
  'http[].redirect.derivePort': v('FROM_REQUEST_PORT', { with: http0({ route: null, redirect: { uri: '/moved' } }) }),
  'http[].redirect.scheme': v('https', { with: noRoute }),
  'http[].redirect.redirectCode': v(302, { with: http0({ route: null, redirect: { uri: '/moved' } }) }),
  'http[].directResponse.status': v(204, { with: noRoute }),
  'http[].directResponse.body.string': v('hello', { with: http0({ route: null, directResponse: { status: 200 } }) }),
  'http[].directResponse.body.bytes': v('aGVsbG8=', { with: http0({ route: null, directResponse: { status: 200 } }) }),
  'http[].delegate': v({ name: 'other', namespace: 'default' }, { with: noRoute }),
  'http[].rewrite.uri': v('/v2/'),
  'http[].rewrite.authority': v('echo.internal'),
  'http[].rewrite.uriRegexRewrite': v({ match: '^/a(.*)', rewrite: '/b\\1' }),
  'http[].timeout': v('2s'),
  'http[].retries.attempts': v(2),
  'http[].retries.perTryTimeout': v('1s', { with: http0({ retries: { attempts: 2 } }) }),
  'http[].retries.retryOn': v('5xx,connect-failure', { with: http0({ retries: { attempts: 2 } }) }),
  'http[].retries.retryRemoteLocalities': v(true, { with: http0({ retries: { attempts: 2 } }) }),
  'http[].retries.retryIgnorePreviousHosts': v(true, { with: http0({ retries: { attempts: 2 } }) }),
  'http[].retries.backoff': v('100ms', { with: http0({ retries: { attempts: 2 } }) }),
  'http[].fault.delay.fixedDelay': v('1s', { with: http0({ fault: { delay: { percentage: PCT } } }) }),
  'http[].fault.delay.exponentialDelay': v('1s', { with: http0({ fault: { delay: { percentage: PCT } } }) }),
  'http[].fault.delay.percentage': v(PCT, { with: http0({ fault: { delay: { fixedDelay: '1s' } } }) }),
  'http[].fault.delay.percent': v(10, { with: http0({ fault: { delay: { fixedDelay: '1s' } } }) }),
  'http[].fault.abort.httpStatus': v(503, { with: http0({ fault: { abort: { percentage: PCT } } }) }),
  'http[].fault.abort.grpcStatus': v('UNAVAILABLE', { with: http0({ fault: { abort: { percentage: PCT } } }) }),
  'http[].fault.abort.http2Error': v('REFUSED_STREAM', { with: http0({ fault: { abort: { percentage: PCT } } }) }),
  'http[].fault.abort.percentage': v(PCT, { with: http0({ fault: { abort: { httpStatus: 503 } } }) }),
  'http[].mirror.host': v(HOST),
  'http[].mirror.subset': v('v1', { with: http0({ mirror: { host: HOST } }) }),
  'http[].mirror.port.number': v(80, { with: http0({ mirror: { host: HOST } }) }),
  'http[].mirrorPercentage': v({ value: 50 }, { with: http0({ mirror: { host: HOST } }) }),
  'http[].mirrorPercent': v(50, { with: http0({ mirror: { host: HOST } }) }),
  'http[].mirrors[].destination': v({ host: HOST }),
  'http[].mirrors[].percentage': v({ value: 25 }, { with: http0({ mirrors: [{ destination: { host: HOST } }] }) }),
  'http[].corsPolicy': v({ allowOrigins: [{ exact: 'https://app.example' }], allowMethods: ['GET'] }),
  'http[].headers.request.set': v({ 'x-a': '1' }),
  'http[].headers.request.add': v({ 'x-a': '1' }),
  'http[].headers.request.remove': v(['x-b']),
  'http[].headers.response.set': v({ 'x-a': '1' }),
  'http[].headers.response.add': v({ 'x-a': '1' }),
  'http[].headers.response.remove': v(['x-b']),
  'tcp[].match[].port': v(9000, { with: tcpRoute }),
  'tcp[].match[].destinationSubnets': v(['10.0.0.0/8'], { with: tcpRoute }),
  'tcp[].match[].sourceLabels': v({ app: 'client' }, { with: tcpRoute }),
  'tcp[].match[].sourceNamespace': v('default', { with: tcpRoute }),
  'tcp[].match[].gateways': v(['mesh'], { with: tcpRoute }),
  'tcp[].match[].sourceSubnet': v('10.0.0.0/8', { with: tcpRoute }),
  'tcp[].route[].destination': v({ host: HOST, port: { number: 9000 } }),
  'tcp[].route[].weight': v(100, { with: tcpRoute }),
  'tls[].match[].sniHosts': v([HOST], { with: tlsRoute }),
  'tls[].match[].port': v(443, { with: tlsRoute }),
  'tls[].match[].destinationSubnets': v(['10.0.0.0/8'], { with: tlsRoute }),
  'tls[].match[].sourceLabels': v({ app: 'client' }, { with: tlsRoute }),
  'tls[].match[].sourceNamespace': v('default', { with: tlsRoute }),
  'tls[].match[].gateways': v(['mesh'], { with: tlsRoute }),
  'tls[].route[].destination': v({ host: HOST, port: { number: 443 } }, { with: tlsRoute }),
  'tls[].route[].weight': v(100, { with: tlsRoute }),
};

const DESTINATION_RULE: Readonly<Record<string, Sample>> = {
  host: v(HOST),
  exportTo: v(['.']),
  workloadSelector: v({ matchLabels: { app: 'client' } }),
  'subsets[].name': v('v2', { with: { subsets: [{ labels: { version: 'v2' } }] } }),
  'subsets[].labels': v({ version: 'v2' }, { with: { subsets: [{ name: 'v2' }] } }),
  'subsets[].trafficPolicy': v({ loadBalancer: { simple: 'RANDOM' } }, { with: { subsets: [{ name: 'v2' }] } }),
  'trafficPolicy.loadBalancer.simple': v('LEAST_REQUEST'),
  'trafficPolicy.loadBalancer.consistentHash.httpHeaderName': v('x-user'),
  'trafficPolicy.loadBalancer.consistentHash.httpCookie.name': v('session'),
  'trafficPolicy.loadBalancer.consistentHash.httpCookie.path': v('/', { with: lb({ consistentHash: { httpCookie: { name: 'session' } } }) }),
  'trafficPolicy.loadBalancer.consistentHash.httpCookie.ttl': v('60s', { with: lb({ consistentHash: { httpCookie: { name: 'session' } } }) }),
  'trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes': v([{ name: 'SameSite', value: 'Strict' }], { with: lb({ consistentHash: { httpCookie: { name: 'session' } } }) }),
  'trafficPolicy.loadBalancer.consistentHash.useSourceIp': v(true),
  'trafficPolicy.loadBalancer.consistentHash.httpQueryParameterName': v('user'),
  'trafficPolicy.loadBalancer.consistentHash.ringHash.minimumRingSize': v(2048, { with: hashBy }),
  'trafficPolicy.loadBalancer.consistentHash.maglev.tableSize': v(65537, { with: hashBy }),
  'trafficPolicy.loadBalancer.consistentHash.minimumRingSize': v(2048, { with: hashBy }),
  'trafficPolicy.loadBalancer.localityLbSetting.distribute[].from': v('us-east/*', { with: lb({ localityLbSetting: { distribute: [{ to: { 'us-east/*': 100 } }] } }) }),
  'trafficPolicy.loadBalancer.localityLbSetting.distribute[].to': v({ 'us-east/*': 100 }, { with: lb({ localityLbSetting: { distribute: [{ from: 'us-east/*' }] } }) }),
  'trafficPolicy.loadBalancer.localityLbSetting.failover[].from': v('us-east', { with: lb({ localityLbSetting: { failover: [{ to: 'us-west' }] } }) }),
  'trafficPolicy.loadBalancer.localityLbSetting.failover[].to': v('us-west', { with: lb({ localityLbSetting: { failover: [{ from: 'us-east' }] } }) }),
  'trafficPolicy.loadBalancer.localityLbSetting.failoverPriority': v(['topology.kubernetes.io/region']),
  'trafficPolicy.loadBalancer.localityLbSetting.enabled': v(false),
  'trafficPolicy.loadBalancer.warmupDurationSecs': v('30s'),
  'trafficPolicy.loadBalancer.warmup.duration': v('30s'),
  'trafficPolicy.loadBalancer.warmup.minimumPercent': v(20, { with: lb({ warmup: { duration: '30s' } }) }),
  'trafficPolicy.loadBalancer.warmup.aggression': v(2, { with: lb({ warmup: { duration: '30s' } }) }),
  'trafficPolicy.connectionPool.tcp.maxConnections': v(10),
  'trafficPolicy.connectionPool.tcp.connectTimeout': v('1s'),
  'trafficPolicy.connectionPool.tcp.tcpKeepalive': v({ time: '60s', interval: '10s', probes: 3 }),
  'trafficPolicy.connectionPool.tcp.maxConnectionDuration': v('1h'),
  'trafficPolicy.connectionPool.tcp.idleTimeout': v('1h'),
  'trafficPolicy.connectionPool.http.http1MaxPendingRequests': v(10),
  'trafficPolicy.connectionPool.http.http2MaxRequests': v(100),
  'trafficPolicy.connectionPool.http.maxRequestsPerConnection': v(10),
  'trafficPolicy.connectionPool.http.maxRetries': v(3),
  'trafficPolicy.connectionPool.http.idleTimeout': v('1h'),
  'trafficPolicy.connectionPool.http.h2UpgradePolicy': v('UPGRADE'),
  'trafficPolicy.connectionPool.http.useClientProtocol': v(true),
  'trafficPolicy.connectionPool.http.maxConcurrentStreams': v(100),
  'trafficPolicy.outlierDetection.consecutive5xxErrors': v(5),
  'trafficPolicy.outlierDetection.consecutiveGatewayErrors': v(3),
  'trafficPolicy.outlierDetection.interval': v('10s'),
  'trafficPolicy.outlierDetection.baseEjectionTime': v('30s'),
  'trafficPolicy.outlierDetection.maxEjectionPercent': v(50),
  'trafficPolicy.outlierDetection.minHealthPercent': v(20),
  'trafficPolicy.outlierDetection.consecutiveErrors': v(5),
  'trafficPolicy.outlierDetection.splitExternalLocalOriginErrors': v(true),
  'trafficPolicy.outlierDetection.consecutiveLocalOriginFailures': v(5),
  'trafficPolicy.tls.mode': v('ISTIO_MUTUAL'),
  'trafficPolicy.tls.clientCertificate': (pem) => v(pem('cert.pem'), { with: { trafficPolicy: { tls: { mode: 'MUTUAL', privateKey: pem('key.pem') } } } }),
  'trafficPolicy.tls.privateKey': (pem) => v(pem('key.pem'), { with: { trafficPolicy: { tls: { mode: 'MUTUAL', clientCertificate: pem('cert.pem') } } } }),
  'trafficPolicy.tls.caCertificates': (pem) => v(pem('ca.pem'), { with: mode('SIMPLE') }),
  'trafficPolicy.tls.credentialName': v('echo-client-cert', { with: mode('SIMPLE'), secrets: true }),
  'trafficPolicy.tls.subjectAltNames': v(['echo.test'], { with: mode('SIMPLE') }),
  'trafficPolicy.tls.sni': v('echo.test', { with: mode('SIMPLE') }),
  'trafficPolicy.tls.insecureSkipVerify': v(true, { with: mode('SIMPLE') }),
  'trafficPolicy.tls.caCrl': v('/etc/crl.pem', { with: mode('SIMPLE') }),
  'trafficPolicy.portLevelSettings[].port.number': v(80),
  'trafficPolicy.portLevelSettings[].loadBalancer': v({ simple: 'RANDOM' }, { with: { trafficPolicy: { portLevelSettings: [{ port: { number: 80 } }] } } }),
  'trafficPolicy.portLevelSettings[].connectionPool': v({ tcp: { maxConnections: 5 } }, { with: { trafficPolicy: { portLevelSettings: [{ port: { number: 80 } }] } } }),
  'trafficPolicy.portLevelSettings[].outlierDetection': v({ consecutive5xxErrors: 3 }, { with: { trafficPolicy: { portLevelSettings: [{ port: { number: 80 } }] } } }),
  'trafficPolicy.portLevelSettings[].tls': v({ mode: 'DISABLE' }, { with: { trafficPolicy: { portLevelSettings: [{ port: { number: 80 } }] } } }),
  'trafficPolicy.retryBudget': v({ percent: 40, minRetryConcurrency: 5 }),
  'trafficPolicy.tunnel': v({ protocol: 'CONNECT', targetHost: 'proxy.example', targetPort: 8080 }),
  'trafficPolicy.proxyProtocol': v({ version: 'V1' }),
};

const PEER_AUTHENTICATION: Readonly<Record<string, Sample>> = {
  'selector.matchLabels': v({ app: 'echo' }),
  'mtls.mode': v('STRICT'),
  portLevelMtls: v({ 8080: { mode: 'PERMISSIVE' } }, { with: { selector: { matchLabels: { app: 'echo' } } } }),
};

const rule = (fields: Obj): Obj => ({ rules: [fields] });
const AUTHORIZATION_POLICY: Readonly<Record<string, Sample>> = {
  'selector.matchLabels': v({ app: 'echo' }),
  action: v('DENY', { with: rule({ to: [{ operation: { methods: ['DELETE'] } }] }) }),
  provider: v({ name: 'ext-authz' }, { with: { action: 'CUSTOM' } }),
  targetRef: v({ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'gw' }),
  targetRefs: v([{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'gw' }]),
  'rules[].from[].source.principals': v(['cluster.local/ns/default/sa/client']),
  'rules[].from[].source.notPrincipals': v(['cluster.local/ns/default/sa/client']),
  'rules[].from[].source.requestPrincipals': v(['https://issuer.example/user']),
  'rules[].from[].source.notRequestPrincipals': v(['*']),
  'rules[].from[].source.namespaces': v(['default']),
  'rules[].from[].source.notNamespaces': v(['default']),
  'rules[].from[].source.serviceAccounts': v(['default/client']),
  'rules[].from[].source.notServiceAccounts': v(['default/client']),
  'rules[].from[].source.trustDomains': v(['cluster.local']),
  'rules[].from[].source.notTrustDomains': v(['other.example']),
  'rules[].from[].source.ipBlocks': v(['10.0.0.0/8']),
  'rules[].from[].source.notIpBlocks': v(['10.0.0.0/8']),
  'rules[].from[].source.remoteIpBlocks': v(['10.0.0.0/8']),
  'rules[].from[].source.notRemoteIpBlocks': v(['10.0.0.0/8']),
  'rules[].to[].operation.hosts': v(['echo.example']),
  'rules[].to[].operation.notHosts': v(['echo.example']),
  'rules[].to[].operation.ports': v(['8080']),
  'rules[].to[].operation.notPorts': v(['8080']),
  'rules[].to[].operation.methods': v(['GET']),
  'rules[].to[].operation.notMethods': v(['GET']),
  'rules[].to[].operation.paths': v(['/api/*']),
  'rules[].to[].operation.notPaths': v(['/admin']),
  'rules[].when[].key': v('request.headers[x-tenant]', { with: rule({ when: [{ values: ['a'] }] }) }),
  'rules[].when[].values': v(['a'], { with: rule({ when: [{ key: 'request.headers[x-tenant]' }] }) }),
  'rules[].when[].notValues': v(['a'], { with: rule({ when: [{ key: 'request.headers[x-tenant]' }] }) }),
};

const jwt = (fields: Obj): Obj => ({ jwtRules: [fields] });
const REQUEST_AUTHENTICATION: Readonly<Record<string, Sample>> = {
  'selector.matchLabels': v({ app: 'echo' }),
  targetRef: v({ kind: 'ServiceEntry', group: 'networking.istio.io', name: 'echo' }),
  targetRefs: v([{ kind: 'Service', group: '', name: 'echo' }]),
  'jwtRules[].issuer': v('https://issuer.example'),
  'jwtRules[].audiences': v(['shop']),
  'jwtRules[].jwksUri': v('https://issuer.example/jwks.json'),
  'jwtRules[].jwks': v(JWKS, { with: jwt({ jwksUri: null }) }),
  'jwtRules[].fromHeaders[].name': v('x-jwt'),
  'jwtRules[].fromHeaders[].prefix': v('Token ', { with: jwt({ fromHeaders: [{ name: 'x-jwt' }] }) }),
  'jwtRules[].fromParams': v(['token']),
  'jwtRules[].fromCookies': v(['session']),
  'jwtRules[].outputPayloadToHeader': v('x-jwt-payload'),
  'jwtRules[].outputClaimToHeaders[].header': v('x-sub', { with: jwt({ outputClaimToHeaders: [{ claim: 'sub' }] }) }),
  'jwtRules[].outputClaimToHeaders[].claim': v('sub', { with: jwt({ outputClaimToHeaders: [{ header: 'x-sub' }] }) }),
  'jwtRules[].forwardOriginalToken': v(true),
  'jwtRules[].timeout': v('5s'),
  'jwtRules[].spaceDelimitedClaims': v(['scope']),
};

const byKind: Readonly<Record<string, Readonly<Record<string, Sample>>>> = {
  ServiceEntry: SERVICE_ENTRY,
  WorkloadEntry: WORKLOAD_ENTRY,
  VirtualService: VIRTUAL_SERVICE,
  DestinationRule: DESTINATION_RULE,
  PeerAuthentication: PEER_AUTHENTICATION,
  AuthorizationPolicy: AUTHORIZATION_POLICY,
  RequestAuthentication: REQUEST_AUTHENTICATION,
};

/** `Kind path` → sample. */
export const FIELD_SAMPLES: Readonly<Record<string, Sample>> = Object.fromEntries(
  Object.entries(byKind).flatMap(([kind, samples]) => Object.entries(samples).map(([path, s]) => [`${kind} ${path}`, s])),
);
