// formatIssues, `nodemesh check` output, and service ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { runCheck } from '../../../src/config/check';
import { fnv1a32, serviceId } from '../../../src/config/ids';
import { formatIssues } from '../../../src/config/load';
import { fixture } from './helpers';

test('formatIssues: one line per issue, leaving out what is unknown', () => {
  const text = formatIssues([
    { file: 'mesh.yaml', document: 2, kind: 'ServiceEntry', name: 'shop/web', field: 'spec.ports[1].nmber', message: 'unknown field' },
    { file: 'mesh.yaml', document: 0, message: 'malformed YAML: bad at line 3, column 1' },
    { file: 'mesh.yaml', document: 1, kind: 'Gateway', field: 'kind', message: 'unknown kind "Gateway"' },
    { file: '/etc/nodemesh', document: -1, message: 'does not exist' },
  ]);
  assert.equal(
    text,
    [
      'mesh.yaml: document 2 (ServiceEntry shop/web): spec.ports[1].nmber: unknown field',
      'mesh.yaml: document 0: malformed YAML: bad at line 3, column 1',
      'mesh.yaml: document 1 (Gateway): kind: unknown kind "Gateway"',
      '/etc/nodemesh: does not exist',
    ].join('\n'),
  );
});

test('FNV-1a 32-bit matches the reference vectors; ids are never 0', () => {
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  assert.equal(serviceId('default/echo'), fnv1a32('default/echo'));
  assert.ok(serviceId('default/echo') > 0);
});

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

test('runCheck: a summary and 0 for a valid config', async () => {
  const out = new Capture();
  const err = new Capture();
  assert.equal(await runCheck(fixture('basic.yaml'), out, err), 0);
  assert.match(out.text, /^OK: 2 services, 2 VIPs, 3 ports, 3 endpoints, 1 workload; dataplane: 1 proxy, 1 kernel\n/);
  assert.match(out.text, /default\/echo {2}proxy {2}vips=127\.0\.10\.1 {2}ports=80\/HTTP->18080,9000\/TCP->19000 {2}endpoints=2/);
  assert.match(out.text, /default\/kv {2}kernel/);
  assert.equal(err.text, '');
});

test('runCheck: the issues and 1 for an invalid config', async () => {
  const out = new Capture();
  const err = new Capture();
  assert.equal(await runCheck(fixture('does-not-exist.yaml'), out, err), 1);
  assert.equal(out.text, '');
  assert.match(err.text, /does-not-exist\.yaml: does not exist\n.*invalid config \(1 problem\)\n$/);
});
