import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { AccessLog, accessLine, startTime, type AccessLogEntry } from '../../../src/telemetry/accesslog';

const ENTRY: AccessLogEntry = {
  start_time: '2026-01-01T00:00:00.000Z',
  method: 'GET',
  path: '/a?"q"=\\x\u0001é',
  protocol: 'HTTP/1.1',
  response_code: 200,
  response_flags: 'UF,URX',
  bytes_received: 0,
  bytes_sent: 23,
  duration: 3,
  upstream_service_time: null,
  x_forwarded_for: null,
  user_agent: 'ua "quoted"\n',
  request_id: 'rid',
  authority: 'svc:80',
  upstream_host: '10.0.0.1:80',
  upstream_cluster: 'outbound|80||svc',
  upstream_local_address: null,
  downstream_local_address: '10.96.0.1:80',
  downstream_remote_address: '10.0.0.2:4000',
  connection_termination_details: null,
};

test('accessLine: the same JSON object pino would write, any string escaped', () => {
  const lines: string[] = [];
  const stream = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) });
  const viaPino = pino({ level: 'info', base: { app: 'nodemesh' }, timestamp: () => ',"time":"T"' }, stream).child({ module: 'access' });
  viaPino.info(ENTRY);
  const ours = accessLine(',"app":"nodemesh","module":"access"', ENTRY, 'T');
  assert.ok(ours.endsWith('}\n') && !ours.slice(0, -1).includes('\n'), 'one line');
  assert.deepEqual(JSON.parse(ours), JSON.parse(lines[0]!));
  const numbers = accessLine('', { ...ENTRY, upstream_service_time: 7 }, 'T');
  assert.equal((JSON.parse(numbers) as Record<string, unknown>)['upstream_service_time'], 7);
});

test('AccessLog writes to its logger\'s stream with the logger\'s bindings; off writes nothing', () => {
  const lines: string[] = [];
  const stream = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) });
  const log = new AccessLog({ logger: pino({ level: 'info' }, stream).child({ module: 'access' }) });
  log.write(ENTRY);
  const got = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(got['module'], 'access');
  assert.equal(got['level'], 30);
  assert.equal(got['path'], ENTRY.path);
  const quiet = new AccessLog({ logger: pino({ level: 'warn' }, stream) });
  assert.equal(quiet.enabled, false);
  quiet.write(ENTRY);
  assert.equal(lines.length, 1);
});

/** A child process that logs N access lines through the process's buffered destination, then exits. */
function child(n: number, how: 'flush' | 'exit'): Promise<string> {
  const log = path.resolve(__dirname, '../../../src/log.js');
  const access = path.resolve(__dirname, '../../../src/telemetry/accesslog.js');
  const script = `
    const { flushLogs } = require(${JSON.stringify(log)});
    const { AccessLog } = require(${JSON.stringify(access)});
    const a = new AccessLog();
    const e = ${JSON.stringify(ENTRY)};
    for (let i = 0; i < ${n}; i++) a.write({ ...e, bytes_sent: i });
    ${how === 'flush' ? 'flushLogs().then(() => process.exit(0));' : 'process.exit(0);'}
  `;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', script], { env: { ...process.env, NODEMESH_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out).toString()) : reject(new Error(`exit ${code}`))));
  });
}

for (const how of ['flush', 'exit'] as const) {
  test(`buffered access log: every line arrives whole and in order on exit (${how})`, async () => {
    const n = 20_000;
    const text = await child(n, how);
    const lines = text.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, n);
    lines.forEach((l, i) => assert.equal((JSON.parse(l) as Record<string, unknown>)['bytes_sent'], i));
  });
}

test('startTime: the ISO time DURATION ms ago, to the millisecond', () => {
  const before = Date.now();
  const t = Date.parse(startTime(1500));
  assert.ok(t >= before - 1500 && t <= Date.now() - 1500, `${t} within [${before - 1500}, now-1500]`);
  assert.equal(startTime(0), new Date(Date.parse(startTime(0))).toISOString());
});
