// nodemesh.io/v1alpha1 HealthCheck: active health checking of a service's endpoints (an HTTP GET or a
// TCP connect every interval), for endpoints no Kubernetes readiness covers: ServiceEntry endpoints and
// WorkloadEntries. An endpoint failing unhealthyThreshold checks in a row is taken out of balancing until
// it passes healthyThreshold in a row.
import { PORT_RANGE, type Fields, type IntRange } from '../fields';
import { checkHost } from '../formats';
import type { HealthCheck } from '../traffic';
import { readMetadata } from './metadata';
import { durationMs, strip } from './trafficfields';
import type { Origin, ParsedHealthCheck } from './types';

const SPEC_FIELDS = ['host', 'subset', 'port', 'http', 'tcp', 'interval', 'timeout', 'unhealthyThreshold', 'healthyThreshold'];
const THRESHOLD: IntRange = { min: 1, max: 1000 };
const STATUS: IntRange = { min: 100, max: 599 };
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const DEFAULT_CHECK_INTERVAL_MS = 10_000;
export const DEFAULT_CHECK_TIMEOUT_MS = 1_000;
/** Envoy has no defaults for the thresholds; these are Kubernetes probes' (failureThreshold 3, successThreshold 1). */
export const DEFAULT_UNHEALTHY_THRESHOLD = 3;
export const DEFAULT_HEALTHY_THRESHOLD = 1;

export function readHealthCheck(doc: Fields, origin: Origin): ParsedHealthCheck | undefined {
  const meta = readMetadata(doc, []);
  const spec = doc.object('spec', SPEC_FIELDS, { required: true });
  if (spec === undefined) return undefined;
  const host = spec.string('host', { required: true, check: checkHost })?.toLowerCase();
  const subset = spec.string('subset', { check: (s) => (DNS_LABEL.test(s) ? undefined : `"${s}" is not a valid subset name`) });
  const port = spec.int('port', PORT_RANGE);
  let check: HealthCheck['check'] | undefined;
  const both = spec.has('http') && spec.has('tcp');
  if (both) spec.sink.report(spec.path, 'must set exactly one of http, tcp');
  const one = !both && spec.oneOf(['http', 'tcp'], 'must set exactly one of http, tcp');
  if (one && spec.has('tcp')) {
    const tcp = spec.object('tcp', []);
    if (tcp !== undefined) check = { tcp: true };
  } else if (one) {
    const http = spec.object('http', ['path', 'expectedStatuses']);
    const path = http?.string('path', { check: (p) => (p.startsWith('/') ? undefined : `must start with "/", got "${p}"`) }) ?? '/';
    let expectedStatuses: number[] = [200];
    const items = http?.list('expectedStatuses');
    if (items !== undefined) {
      expectedStatuses = [];
      for (const item of items) {
        const n = item.value;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < STATUS.min || n > STATUS.max) http!.sink.report(item.path, `must be an HTTP status ${STATUS.min}-${STATUS.max}`);
        else expectedStatuses.push(n);
      }
      if (items.length === 0) http!.report('expectedStatuses', 'must not be empty (leave it out for 200)');
    }
    if (http !== undefined && expectedStatuses.length > 0) check = { http: { path, expectedStatuses } };
  }
  const intervalMs = durationMs(spec, 'interval') ?? DEFAULT_CHECK_INTERVAL_MS;
  const timeoutMs = durationMs(spec, 'timeout') ?? DEFAULT_CHECK_TIMEOUT_MS;
  const unhealthyThreshold = spec.int('unhealthyThreshold', THRESHOLD) ?? DEFAULT_UNHEALTHY_THRESHOLD;
  const healthyThreshold = spec.int('healthyThreshold', THRESHOLD) ?? DEFAULT_HEALTHY_THRESHOLD;
  if (meta === undefined || host === undefined || check === undefined) return undefined;
  const hc: HealthCheck = strip({
    name: meta.name,
    namespace: meta.namespace,
    service: '',
    subset,
    port,
    check,
    intervalMs,
    timeoutMs,
    unhealthyThreshold,
    healthyThreshold,
  });
  return { kind: 'HealthCheck', origin, check: hc, host };
}
