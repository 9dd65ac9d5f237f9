import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { sample } from './proxy-helpers';
import { h2backend, H2Harness, meshOf } from './fixtures/h2-harness';

const H2LOAD = '/usr/bin/h2load';
const VIP = '127.0.105.1';

// h2load (Debian nghttp2-client) drives many multiplexed streams over several connections. Where it is
// missing the test is skipped, visibly, unless CI is set (CI must have it).
const missing = !existsSync(H2LOAD);
if (missing && process.env['CI'] !== undefined) throw new Error(`${H2LOAD} is required in CI (apt-get install nghttp2-client)`);

test('h2load: 2,000 requests over 4 connections x 10 streams all succeed and are each counted once', { skip: missing ? `${H2LOAD} not installed` : false }, async (t) => {
  const backend = await h2backend((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end('hello from the backend\n');
  });
  const mesh = new H2Harness(meshOf([{ name: 'load', vip: VIP, endpoints: [backend.addr] }]));
  const entry = await mesh.entry(VIP);
  t.after(async () => {
    await mesh.close();
    await backend.close();
  });
  const out = await new Promise<string>((resolve, reject) => {
    execFile(H2LOAD, ['-n', '2000', '-c', '4', '-m', '10', '-T', '20', `http://${entry.address}:${entry.port}/load`], { timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
    );
  });
  const m = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  assert.ok(m !== null, out);
  assert.deepEqual(m.slice(1).map(Number), [2000, 2000, 2000, 0, 0]);
  assert.equal(backend.requests, 2000);
  assert.equal(await sample(mesh.metrics, 'istio_requests_total', { response_code: '200', request_protocol: 'http' }), 2000);
});
