// `nodemesh check PATH` against map capacities: the same count and limit the agent applies.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { runCheck } from '../../../src/config/check';

const fixture = (name: string): string => path.resolve(__dirname, '../../../../test/fixtures', name);

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

test('runCheck: capacities given to check (basic.yaml needs 3 VIP × port entries and 5 backends)', async () => {
  const cases: { name: string; capacity: object | undefined; status: number; err: RegExp }[] = [
    { name: 'defaults', capacity: undefined, status: 0, err: /^$/ },
    { name: 'exactly enough', capacity: { services: 3, backends: 5 }, status: 0, err: /^$/ },
    { name: 'too few services', capacity: { services: 2 }, status: 1, err: /basic\.yaml: the config does not fit the kernel maps: 3 nm_services entries \(VIP × port\) needed, capacity 2: raise --max-services to at least 3\n$/ },
    { name: 'too few backends', capacity: { backends: 4 }, status: 1, err: /5 nm_backends entries \(endpoints × ports\) needed, capacity 4: raise --max-backends to at least 5\n$/ },
  ];
  for (const c of cases) {
    const out = new Capture();
    const err = new Capture();
    assert.equal(await runCheck(fixture('basic.yaml'), c.capacity ? { capacity: c.capacity } : {}, out, err), c.status, c.name);
    assert.match(err.text, c.err, c.name);
    assert.equal(out.text.startsWith('OK: '), c.status === 0, c.name);
  }
});

test('runCheck: the older (path, out, err) form still works', async () => {
  const out = new Capture();
  const err = new Capture();
  assert.equal(await runCheck(fixture('basic.yaml'), out, err), 0);
  assert.match(out.text, /^OK: /);
});
