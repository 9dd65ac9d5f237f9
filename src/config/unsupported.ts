// What to do instead of an Istio field this version refuses ("field is not supported yet"): a config
// that sets one does not load, so each message says what happens without it or what to use.

const HINTS: Readonly<Record<string, string>> = {
  targetRef: 'choose the workloads with spec.selector',
  targetRefs: 'choose the workloads with spec.selector',
  provider: 'CUSTOM (external) authorization is not available; write ALLOW or DENY rules',
  tunnel: 'leave it out: traffic between agents already goes through their own mutual TLS tunnel',
  proxyProtocol: 'leave it out: connections to the endpoint carry no PROXY header',
  workloadSelector: 'leave it out: a DestinationRule applies to every client of the host',
  warmup: 'leave it out: a new endpoint gets its full share of requests at once',
  warmupDurationSecs: 'leave it out: a new endpoint gets its full share of requests at once',
  attributes: 'leave it out: the cookie is issued with name, path and ttl only',
  tcpKeepalive: 'leave it out: upstream sockets keep the operating system\'s keepalive settings',
  maxConnectionDuration: 'leave it out: upstream connections are closed when idle (see idleTimeout)',
  maxConcurrentStreams: 'leave it out: the upstream\'s own HTTP/2 settings limit its streams',
  consecutiveErrors: 'use consecutive5xxErrors (Istio deprecated consecutiveErrors)',
  splitExternalLocalOriginErrors: 'leave it out: connect failures count as gateway errors (consecutiveGatewayErrors)',
  consecutiveLocalOriginFailures: 'use consecutiveGatewayErrors: connect failures count as gateway errors',
  subjectAltNames: 'leave it out: peers in the mesh are verified by their agent certificates; for TLS origination set DestinationRule tls.subjectAltNames',
  delegate: 'put the routes in this VirtualService',
  corsPolicy: 'CORS headers are not added: answer preflight requests in the application, or set response headers with headers.response',
  mirrorPercent: 'use mirrorPercentage: {value: N}',
  mirror_percent: 'use mirrorPercentage: {value: N}',
  statPrefix: 'leave it out: route statistics are not kept per match',
  derivePort: 'set redirect.port',
  uriRegexRewrite: 'use rewrite.uri with a prefix match',
  retryRemoteLocalities: 'leave it out: a retry may go to any endpoint',
  retryIgnorePreviousHosts: 'leave it out: a retry may go to any endpoint, the failed one included',
  backoff: 'leave it out: retries back off from 25 ms, doubling up to 250 ms, as Envoy\'s default',
  exponentialDelay: 'use fixedDelay',
  http2Error: 'use httpStatus or grpcStatus',
  caCrl: 'leave it out: revocation lists are not checked',
  sourceSubnet: 'match the client with sourceLabels or sourceNamespace (Istio deprecated sourceSubnet)',
  metrics: 'leave it out: the Istio standard metrics are always reported, with their standard labels',
  customTags: 'leave it out: spans carry a fixed set of attributes (docs/telemetry.md)',
  filter: 'leave it out: CEL filters are not evaluated; use disabled: true to turn the access log off for a workload',
  retryBudget: 'leave it out: retries in flight to a service are at most 20 % of its active requests, and at least 3 (Envoy\'s default budget); connectionPool.http.maxRetries sets a fixed limit',
};

/** The message for an Istio field nodemesh refuses, with what to do instead. */
export function unsupportedMessage(key: string): string {
  const hint = Object.hasOwn(HINTS, key) ? HINTS[key] : 'leave it out (a config is refused rather than applied without it)';
  return `field is not supported yet by this nodemesh version: ${hint}`;
}
