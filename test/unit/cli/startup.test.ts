// Start-up friction: log level, bpffs advice, service names for stat, version.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { bpffsMountAdvice } from '../../../src/capture/env';
import { decodeNames, encodeNames, namesFile, orphanedNames, readServiceNames, removeServiceNames, writeServiceNames } from '../../../src/capture/names';
import { formatStats } from '../../../src/capture/stat';
import { ancestors, packageVersion } from '../../../src/version';
import { resolveLogLevel } from '../../../src/log';
import { isMeshError } from '../../../src/errors';
import { requirePins } from '../../../src/capture/stat';

test('NODEMESH_LOG_LEVEL: known levels, case-insensitive; anything else is a problem, never a throw', () => {
  const cases: [string | undefined, string, string | undefined][] = [
    [undefined, 'info', undefined],
    ['', 'info', undefined],
    ['debug', 'debug', undefined],
    ['WARN', 'warn', undefined],
    ['silent', 'silent', undefined],
    ['verbose', 'info', 'NODEMESH_LOG_LEVEL="verbose" is not a log level (one of: fatal, error, warn, info, debug, trace, silent)'],
    ['10', 'info', 'NODEMESH_LOG_LEVEL="10" is not a log level (one of: fatal, error, warn, info, debug, trace, silent)'],
  ];
  for (const [req, level, problem] of cases) assert.deepEqual(resolveLogLevel(req, 'info'), problem ? { level, problem } : { level }, String(req));
});

test('bpffs advice: the pin directory itself, never an existing parent such as /tmp', () => {
  const cases: [string, string][] = [
    ['/tmp/x', 'mkdir -p /tmp/x && mount -t bpf bpf /tmp/x'],
    ['/tmp/a/b/', 'mkdir -p /tmp/a/b && mount -t bpf bpf /tmp/a/b'],
    ['/sys/fs/bpf/nodemesh', 'mount -t bpf bpf /sys/fs/bpf'],
    ['/sys/fs/bpf', 'mount -t bpf bpf /sys/fs/bpf'],
    ['/sys/fs/bpf/a/b', 'mount -t bpf bpf /sys/fs/bpf'],
  ];
  for (const [dir, want] of cases) assert.equal(bpffsMountAdvice(dir), want, dir);
  assert.doesNotMatch(bpffsMountAdvice('/tmp/x'), /bpf \/tmp$/);
});

test('service names: encode/decode, per pin directory, malformed content ignored', () => {
  const services = [
    { id: 0x1234, namespace: 'shop', name: 'web' },
    { id: 7, namespace: 'demo', name: 'cache' },
  ];
  const back = decodeNames(encodeNames('/sys/fs/bpf/nodemesh', services));
  assert.deepEqual(back, new Map([[0x1234, { namespace: 'shop', name: 'web' }], [7, { namespace: 'demo', name: 'cache' }]]));
  assert.equal(decodeNames('not json').size, 0);
  assert.equal(decodeNames('{"services":{"x":{"name":1}}}').size, 0);
  const a = namesFile('/sys/fs/bpf/nodemesh', '/s');
  assert.match(a, /^\/s\/services-sys_fs_bpf_nodemesh-[0-9a-f]{8}\.json$/);
  assert.notEqual(namesFile('/sys/fs/bpf/a_b', '/s'), namesFile('/sys/fs/bpf/a/b', '/s'));
  assert.equal(namesFile('/sys/fs/bpf/nodemesh/', '/s'), a);
});

test('service names: files of pin directories that are gone are orphans', () => {
  const files = new Map([
    ['services-a.json', encodeNames('/pins/a', [])],
    ['services-b.json', encodeNames('/pins/b', [])],
    ['services-c.json', 'garbage'],
  ]);
  assert.deepEqual(orphanedNames(files, (p) => p === '/pins/a'), ['services-b.json']);
});

test('service names: written atomically, read back, removed; orphans swept', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodemesh-names-test-'));
  try {
    const state = path.join(dir, 'state');
    const pins = path.join(dir, 'pins'); // the pin directory must exist, or its names are an orphan
    fs.mkdirSync(pins);
    fs.mkdirSync(state);
    fs.writeFileSync(path.join(state, 'services-gone-00000000.json'), encodeNames(path.join(dir, 'gone'), []));
    assert.equal(writeServiceNames(pins, [{ id: 9, namespace: 'a', name: 'b' }], state), undefined);
    assert.deepEqual(readServiceNames(pins, state).get(9), { namespace: 'a', name: 'b' });
    assert.equal(readServiceNames('/pins/other', state).size, 0);
    assert.deepEqual(fs.readdirSync(state), [path.basename(namesFile(pins, state))], 'no temp file left, the orphan swept');
    removeServiceNames(pins, state);
    assert.equal(readServiceNames(pins, state).size, 0);
    // a state path that cannot be a directory: reported, not thrown
    fs.writeFileSync(path.join(dir, 'file'), '');
    assert.match(writeServiceNames(pins, [], path.join(dir, 'file')) ?? '', /not|EEXIST|ENOTDIR/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('stat: services by name, unknown ids in hex, then the datapath events', () => {
  const s = (opened: number, closed: number) => ({ opened, closed, bytesSent: 10, bytesReceived: 20, redirected: 1, splicedBytes: 0 }) as never;
  const out = formatStats([[0xabc, s(5, 2)], [7, s(1, 1)]], [['connect_seen', 3n]], new Map([[7, { namespace: 'demo', name: 'web' }]]));
  const lines = out.split('\n');
  assert.match(lines[0] ?? '', /^service +opened +closed +active/);
  assert.match(lines[1] ?? '', /^demo\/web +1 +1 +0 /);
  assert.match(lines[2] ?? '', /^id:abc +5 +2 +3 /);
  assert.match(out, /datapath events:\n {2}connect_seen +3\n$/);
  assert.match(formatStats([], [], new Map()), /no service has counters yet/);
});

test('stat without pins: NO_PINS naming the directory and the likely cause', () => {
  assert.throws(
    () => requirePins('/nowhere', () => false),
    (e: unknown) => isMeshError(e, 'NO_PINS') && /\/nowhere/.test(e.message) && /running with capture/.test(e.message),
  );
  assert.doesNotThrow(() => requirePins('/pins', () => true));
});

test('version: from the nearest package.json named nodemesh, read at run time', () => {
  assert.deepEqual(ancestors('/a/b'), ['/a/b', '/a', '/']);
  const files: Record<string, string> = { '/app/dist/package.json': '{"name":"other","version":"9"}', '/app/package.json': '{"name":"nodemesh","version":"1.2.3"}' };
  assert.equal(packageVersion('/app/dist/src/cli', (f) => files[f]), '1.2.3');
  assert.equal(packageVersion('/x', () => undefined), undefined);
  const real = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../../package.json'), 'utf8')) as { version: string };
  assert.equal(packageVersion(), real.version);
});
