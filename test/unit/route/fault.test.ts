// Fault injection decisions with a scripted random: delay and abort drawn independently, gRPC status
// versus HTTP status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FaultPolicy } from '../../../src/config/traffic';
import { decideFault, type FaultDecision } from '../../../src/route/fault';
import { noRandom, scripted } from './helpers';

/** [what, fault, random values, isGrpc, expected]. */
const TABLE: readonly [string, FaultPolicy | undefined, number[], boolean, FaultDecision | undefined][] = [
  ['no fault', undefined, [], false, undefined],
  ['delay hit', { delay: { fixedDelayMs: 500, percent: 50 } }, [0.4], false, { delayMs: 500 }],
  ['delay miss', { delay: { fixedDelayMs: 500, percent: 50 } }, [0.5], false, undefined],
  ['delay 100% takes no draw', { delay: { fixedDelayMs: 5, percent: 100 } }, [], false, { delayMs: 5 }],
  ['delay 0% never', { delay: { fixedDelayMs: 5, percent: 0 } }, [], false, undefined],
  ['fractional percent', { delay: { fixedDelayMs: 5, percent: 0.1 } }, [0.0009], false, { delayMs: 5 }],
  ['fractional percent miss', { delay: { fixedDelayMs: 5, percent: 0.1 } }, [0.001], false, undefined],
  ['abort hit', { abort: { httpStatus: 503, percent: 10 } }, [0.05], false, { delayMs: 0, abort: { status: 503 } }],
  ['abort miss', { abort: { httpStatus: 503, percent: 10 } }, [0.1], false, undefined],
  [
    'independent draws: delay misses, abort hits',
    { delay: { fixedDelayMs: 100, percent: 50 }, abort: { httpStatus: 500, percent: 50 } },
    [0.9, 0.1],
    false,
    { delayMs: 0, abort: { status: 500 } },
  ],
  [
    'independent draws: both hit',
    { delay: { fixedDelayMs: 100, percent: 50 }, abort: { httpStatus: 500, percent: 50 } },
    [0.1, 0.1],
    false,
    { delayMs: 100, abort: { status: 500 } },
  ],
  [
    'independent draws: delay hits, abort misses',
    { delay: { fixedDelayMs: 100, percent: 50 }, abort: { httpStatus: 500, percent: 50 } },
    [0.1, 0.9],
    false,
    { delayMs: 100 },
  ],
  ['gRPC status on a gRPC request: 200 + grpc-status', { abort: { grpcStatus: 14, percent: 100 } }, [], true, { delayMs: 0, abort: { status: 200, grpcStatus: 14 } }],
  ['HTTP status on a gRPC request: that status', { abort: { httpStatus: 503, percent: 100 } }, [], true, { delayMs: 0, abort: { status: 503 } }],
  ['gRPC status only, on an HTTP request: as Envoy, 200 + grpc-status', { abort: { grpcStatus: 14, percent: 100 } }, [], false, { delayMs: 0, abort: { status: 200, grpcStatus: 14 } }],
  ['both statuses, HTTP request: the HTTP one', { abort: { httpStatus: 500, grpcStatus: 13, percent: 100 } }, [], false, { delayMs: 0, abort: { status: 500 } }],
  ['both statuses, gRPC request: the gRPC one', { abort: { httpStatus: 500, grpcStatus: 13, percent: 100 } }, [], true, { delayMs: 0, abort: { status: 200, grpcStatus: 13 } }],
];

test('decideFault table', () => {
  for (const [what, fault, values, grpc, want] of TABLE) {
    const random = values.length === 0 ? noRandom : scripted(...values);
    assert.deepEqual(decideFault(fault, random, grpc), want, what);
  }
});
