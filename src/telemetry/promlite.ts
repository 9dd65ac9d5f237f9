// prom-client's Registry, Counter and Gauge without its index. The index also loads the default
// metrics (and with them @opentelemetry/api), the Pushgateway (http, https, zlib), Summary and the
// cluster aggregator: about 90 files that a proxy worker, which only counts, would hold in its own V8
// isolate. The classes are the same objects the index exports (one module cache per thread), so a
// metric made from here registers and scrapes exactly as one made from 'prom-client'.
import type * as prom from 'prom-client';

/* eslint-disable @typescript-eslint/no-require-imports */
export const Registry = require('prom-client/lib/registry') as typeof prom.Registry;
export const Counter = require('prom-client/lib/counter') as typeof prom.Counter;
export const Gauge = require('prom-client/lib/gauge') as typeof prom.Gauge;
/* eslint-enable @typescript-eslint/no-require-imports */

export type Registry = prom.Registry;
export type Counter<T extends string = string> = prom.Counter<T>;
export type Gauge<T extends string = string> = prom.Gauge<T>;
