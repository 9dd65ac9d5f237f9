import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TelemetryPolicy } from '../../../src/config/model';
import { decideTelemetry, NO_TELEMETRY, type Side, type TelemetryDecision, type WorkloadRef } from '../../../src/telemetry/policy';

const pol = (namespace: string, name: string, over: Partial<TelemetryPolicy> = {}): TelemetryPolicy => ({ name, namespace, selector: undefined, tracing: [], accessLogging: [], ...over });

const MESH = pol('istio-system', 'mesh-default', { tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 1 }], accessLogging: [{ mode: 'CLIENT_AND_SERVER', disabled: false }] });
const NS = pol('shop', 'ns', { tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 10 }] });
const WL = pol('shop', 'cart', { selector: { app: 'cart' }, tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 100 }], accessLogging: [{ mode: 'CLIENT_AND_SERVER', disabled: true }] });
const SERVER_ONLY = pol('shop', 'pay', { selector: { app: 'pay' }, tracing: [{ mode: 'SERVER', disableSpanReporting: true }], accessLogging: [{ mode: 'CLIENT', disabled: true }] });
const OTHER_NS_SELECTOR = pol('other', 'cart', { selector: { app: 'cart' }, tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 55 }] });
const ROOT_SELECTOR = pol('istio-system', 'gw', { selector: { app: 'cart' }, tracing: [{ mode: 'CLIENT_AND_SERVER', randomSamplingPercentage: 77 }] });
const ALL = [MESH, OTHER_NS_SELECTOR, ROOT_SELECTOR, NS, WL, SERVER_ONLY];

const wl = (namespace: string, labels: Record<string, string>): WorkloadRef => ({ namespace, labels });
const d = (samplingPercent: number | undefined, disableSpanReporting = false, accessLogDisabled = false): TelemetryDecision => ({ samplingPercent, disableSpanReporting, accessLogDisabled });

const ROWS: readonly { name: string; list: readonly TelemetryPolicy[]; side: Side; wl: WorkloadRef | undefined; want: TelemetryDecision }[] = [
  { name: 'no Telemetry', list: [], side: 'CLIENT', wl: wl('shop', { app: 'cart' }), want: NO_TELEMETRY },
  { name: 'mesh-wide only, unknown workload', list: ALL, side: 'CLIENT', wl: undefined, want: d(1) },
  { name: 'another namespace: mesh-wide', list: ALL, side: 'SERVER', wl: wl('web', { app: 'cart' }), want: d(1) },
  { name: 'namespace-wide over mesh-wide', list: ALL, side: 'CLIENT', wl: wl('shop', { app: 'web' }), want: d(10) },
  { name: 'workload over namespace, access log off', list: ALL, side: 'SERVER', wl: wl('shop', { app: 'cart', version: 'v2' }), want: d(100, false, true) },
  { name: 'selector of another namespace does not apply', list: [MESH, OTHER_NS_SELECTOR], side: 'CLIENT', wl: wl('shop', { app: 'cart' }), want: d(1) },
  { name: 'selector in the root namespace applies to its own workloads only', list: [MESH, ROOT_SELECTOR], side: 'CLIENT', wl: wl('shop', { app: 'cart' }), want: d(1) },
  { name: 'root-namespace workload with a selector', list: [MESH, ROOT_SELECTOR], side: 'CLIENT', wl: wl('istio-system', { app: 'cart' }), want: d(77) },
  { name: 'server-only entry on the server side; sampling inherited', list: ALL, side: 'SERVER', wl: wl('shop', { app: 'pay' }), want: d(10, true, false) },
  { name: 'server-only entry not on the client side; client-only access log off', list: ALL, side: 'CLIENT', wl: wl('shop', { app: 'pay' }), want: d(10, false, true) },
  { name: 'selector needs every label', list: [WL], side: 'CLIENT', wl: wl('shop', { app: 'carts' }), want: d(undefined) },
];

for (const row of ROWS) {
  test(`decideTelemetry: ${row.name}`, () => {
    assert.deepEqual(decideTelemetry(row.list, row.side, row.wl), row.want);
  });
}
