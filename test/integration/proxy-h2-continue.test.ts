import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as http2 from 'node:http2';
import { h2backend, h2connect, H2Harness, meshOf } from './fixtures/h2-harness';

// expect: 100-continue from an HTTP/2 client: the proxy answers a non-final :status 100 itself when the
// body is still to come (as for HTTP/1 clients), never for a request that already ended, and does not
// forward the expect field.

const VIP = '127.0.101.31';
const BODY = Buffer.alloc(200 * 1024, 0x61);

interface Seen {
  expect: string | undefined;
  bytes: number;
}

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const seen: Seen[] = [];
  const backend = await h2backend((stream, headers) => {
    let bytes = 0;
    stream.on('data', (c: Buffer) => (bytes += c.length));
    stream.on('end', () => {
      seen.push({ expect: headers.expect as string | undefined, bytes });
      stream.respond({ ':status': 200 });
      stream.end(String(bytes));
    });
  });
  const mesh = new H2Harness(meshOf([{ name: 'cont', vip: VIP, endpoints: [backend.addr] }]));
  const entry = await mesh.entry(VIP);
  t.after(async () => {
    await mesh.close();
    await backend.close();
  });
  return { seen, entry };
}

interface Outcome {
  continued: number;
  /** 1xx heads other than 100. */
  others: number;
  status: number;
  body: string;
}

/** One request; the body (when any) is written only once the 100 came, as a waiting client does. */
function send(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body: Buffer | undefined): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    const o: Outcome = { continued: 0, others: 0, status: 0, body: '' };
    const chunks: Buffer[] = [];
    req.on('continue', () => {
      o.continued++;
      if (body !== undefined && o.continued === 1) req.end(body);
    });
    req.on('headers', (h) => (o.others += Number(h[':status']) === 100 ? 0 : 1));
    req.on('response', (h) => (o.status = Number(h[':status'])));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ ...o, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
  });
}

test('h2 client with expect: 100-continue gets a 100 before sending its body', { timeout: 20_000 }, async (t) => {
  const { seen, entry } = await setup(t);
  const client = h2connect(entry);
  t.after(() => client.close());

  const cases: { name: string; headers: http2.OutgoingHttpHeaders; body?: Buffer; continued: number; bytes: number }[] = [
    { name: 'POST with a body to come', headers: { ':method': 'POST', ':path': '/up', expect: '100-continue' }, body: BODY, continued: 1, bytes: BODY.length },
    { name: 'the value is case-insensitive', headers: { ':method': 'PUT', ':path': '/up', expect: '100-Continue' }, body: Buffer.from('x'), continued: 1, bytes: 1 },
    { name: 'a request that already ended gets no 100', headers: { ':method': 'GET', ':path': '/get', expect: '100-continue' }, continued: 0, bytes: 0 },
  ];
  for (const c of cases) {
    const o = await send(client, c.headers, c.body);
    assert.equal(o.continued, c.continued, `${c.name}: 100s`);
    assert.equal(o.others, 0, `${c.name}: other 1xx`);
    assert.equal(o.status, 200, c.name);
    assert.equal(o.body, String(c.bytes), `${c.name}: bytes upstream`);
    assert.equal(seen.at(-1)?.expect, undefined, `${c.name}: expect not forwarded`);
  }
});

test('h2 client without expect gets no 100', { timeout: 20_000 }, async (t) => {
  const { entry } = await setup(t);
  const client = h2connect(entry);
  t.after(() => client.close());
  const o = await new Promise<Outcome>((resolve, reject) => {
    const req = client.request({ ':method': 'POST', ':path': '/plain' });
    const o: Outcome = { continued: 0, others: 0, status: 0, body: '' };
    req.on('continue', () => o.continued++);
    req.on('headers', (h) => (o.others += Number(h[':status']) === 100 ? 0 : 1));
    req.on('response', (h) => (o.status = Number(h[':status'])));
    req.on('data', (c: Buffer) => (o.body += c.toString()));
    req.on('end', () => resolve(o));
    req.on('error', reject);
    req.end(Buffer.from('abc'));
  });
  assert.deepEqual(o, { continued: 0, others: 0, status: 200, body: '3' });
});

test('curl --http2-prior-knowledge with Expect: 100-continue sees HTTP/2 100, then the answer', { timeout: 30_000 }, async (t) => {
  const { seen, entry } = await setup(t);
  const dir = mkdtempSync(join(tmpdir(), 'nm-h2-continue-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'body');
  writeFileSync(file, BODY);
  // A long expect100-timeout: without the 100, curl would hold the body back far past the test's timeout.
  const args = ['-sS', '--http2-prior-knowledge', '--expect100-timeout', '600', '-H', 'Expect: 100-continue', '--data-binary', `@${file}`, '-D', '-', `http://${entry.address}:${entry.port}/up`];
  const out = await new Promise<string>((resolve, reject) => {
    execFile('curl', args, { timeout: 25_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
  assert.match(out, /^HTTP\/2 100 ?\r?\n/, 'the interim 100 first');
  assert.match(out, /\r?\nHTTP\/2 200 ?\r?\n/);
  assert.ok(out.endsWith(String(BODY.length)), out);
  assert.equal(seen.at(-1)?.bytes, BODY.length);
  assert.equal(seen.at(-1)?.expect, undefined);
});
