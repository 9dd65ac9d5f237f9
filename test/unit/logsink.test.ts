import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineSink } from '../../src/logsink';

function tmpFile(t: { after(fn: () => void): void }): { fd: number; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-logsink-'));
  const file = path.join(dir, 'out.log');
  const fd = fs.openSync(file, 'w');
  t.after(() => {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { fd, file };
}

test('LineSink: lines gathered in a turn leave in one write, whole and in order; drained() waits for them', async (t) => {
  const { fd, file } = tmpFile(t);
  const sink = new LineSink({ fd, maxBuffered: 64 * 1024 * 1024 });
  const lines = Array.from({ length: 5000 }, (_, i) => `{"n":${i},"pad":"${'é'.repeat(i % 50)}"}\n`);
  for (const l of lines) assert.equal(sink.write(l), true);
  assert.equal(fs.readFileSync(file, 'utf8').length < lines.join('').length, true, 'not written synchronously');
  await sink.drained();
  assert.equal(fs.readFileSync(file, 'utf8'), lines.join(''));
  assert.equal(sink.dropped, 0);
});

test('LineSink: past maxBuffered a line is dropped and counted, never half-written', async (t) => {
  const { fd, file } = tmpFile(t);
  const sink = new LineSink({ fd, maxBuffered: 1000 });
  const line = `${'x'.repeat(199)}\n`;
  let kept = 0;
  for (let i = 0; i < 10; i++) if (sink.write(line)) kept++;
  assert.equal(kept, 5);
  assert.equal(sink.dropped, 5);
  await sink.drained();
  assert.equal(fs.readFileSync(file, 'utf8'), line.repeat(5));
});

test('LineSink: flushSync writes what is held when no turn of the loop is left', (t) => {
  const { fd, file } = tmpFile(t);
  const sink = new LineSink({ fd, maxBuffered: 1 << 20 });
  sink.write('a\n');
  sink.write('b\n');
  sink.flushSync();
  assert.equal(fs.readFileSync(file, 'utf8'), 'a\nb\n');
});

test('LineSink: an ordinary line leaves at the next turn and takes waiting bulk lines along, in order', async (t) => {
  const { fd, file } = tmpFile(t);
  const sink = new LineSink({ fd, maxBuffered: 1 << 20 });
  sink.bulk('access-1\n');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(fs.readFileSync(file, 'utf8'), '', 'a bulk line alone waits');
  sink.write('warn\n');
  sink.bulk('access-2\n');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(fs.readFileSync(file, 'utf8'), 'access-1\nwarn\naccess-2\n');
  sink.bulk('access-3\n');
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(fs.readFileSync(file, 'utf8'), 'access-1\nwarn\naccess-2\naccess-3\n', 'a lone bulk line leaves after the linger');
});
