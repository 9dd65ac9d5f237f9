import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyUpstreamError, CONNECT_TIMEOUT_CODE, timeoutVerdict, type UpstreamPhase } from '../../../src/upstream/failure';
import { clientErrorAnswer, HEADERS_TIMEOUT_CODE } from '../../../src/downstream/h1/reject';
import { ERRORS } from '../../../src/codec/h1parse';

const CASES: [string | undefined, UpstreamPhase, { flag: string; status: number | undefined; eject: boolean }][] = [
  ['ECONNREFUSED', 'connect', { flag: 'UF', status: 503, eject: true }],
  ['EHOSTUNREACH', 'connect', { flag: 'UF', status: 503, eject: true }],
  ['ENETUNREACH', 'connect', { flag: 'UF', status: 503, eject: true }],
  ['ETIMEDOUT', 'connect', { flag: 'UF', status: 503, eject: true }],
  [CONNECT_TIMEOUT_CODE, 'connect', { flag: 'UF', status: 503, eject: true }],
  ['ECONNRESET', 'connect', { flag: 'UF', status: 503, eject: true }],
  ['EADDRNOTAVAIL', 'connect', { flag: 'UF', status: 503, eject: false }],
  ['EMFILE', 'connect', { flag: 'UF', status: 503, eject: false }],
  ['ECONNRESET', 'before-headers', { flag: 'UC', status: 503, eject: false }],
  ['EPIPE', 'before-headers', { flag: 'UC', status: 503, eject: false }],
  [undefined, 'before-headers', { flag: 'UC', status: 503, eject: false }],
  ['HPE_INVALID_CONSTANT', 'before-headers', { flag: 'UPE', status: 502, eject: false }],
  ['ECONNRESET', 'after-headers', { flag: 'UR', status: undefined, eject: false }],
];

for (const [code, phase, want] of CASES) {
  test(`upstream ${code ?? '(no code)'} during ${phase} → ${want.flag} ${want.status ?? 'reset'}`, () => {
    const v = classifyUpstreamError(code, phase);
    assert.deepEqual({ flag: v.flag, status: v.status, eject: v.eject }, want);
  });
}

test('route timeout → 504 UT before headers, reset with UT after', () => {
  assert.deepEqual(timeoutVerdict(false), { error: 'UPSTREAM_TIMEOUT', flag: 'UT', status: 504, eject: false });
  assert.deepEqual(timeoutVerdict(true), { error: 'UPSTREAM_TIMEOUT', flag: 'UT', status: undefined, eject: false });
});

test('client parse errors: 400, 431 for oversized headers, 408 for slow headers, nothing for dead sockets', () => {
  assert.deepEqual(clientErrorAnswer(ERRORS.method.code), { error: 'BAD_REQUEST', status: 400 });
  assert.deepEqual(clientErrorAnswer(ERRORS.clAndTe.code), { error: 'BAD_REQUEST', status: 400 });
  assert.deepEqual(clientErrorAnswer(undefined), { error: 'BAD_REQUEST', status: 400 });
  assert.deepEqual(clientErrorAnswer(ERRORS.tooLarge.code), { error: 'HEADERS_TOO_LARGE', status: 431 });
  assert.deepEqual(clientErrorAnswer(ERRORS.tooMany.code), { error: 'HEADERS_TOO_LARGE', status: 431 });
  assert.deepEqual(clientErrorAnswer(HEADERS_TIMEOUT_CODE), { error: 'REQUEST_HEADERS_TIMEOUT', status: 408 });
  // Every parse error answers with the status the parser assigned to it.
  for (const e of Object.values(ERRORS)) assert.equal(clientErrorAnswer(e.code)?.status, e.status, e.code);
  assert.equal(clientErrorAnswer('ECONNRESET'), undefined);
});
