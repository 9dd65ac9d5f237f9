// ServiceEntry name resolution and the DNS proxy in process, against a test resolver on loopback:
// lookups with TTL refresh, the last good answer kept through an outage, mesh names answered from the
// view, other names forwarded unchanged, malformed packets dropped and counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { Registry } from 'prom-client';
import { HostResolver } from '../../src/dns/resolver';
import { DnsServer } from '../../src/dns/server';
import { DnsView, allocate, withAllocated } from '../../src/dns/view';
import { TYPE_A, TYPE_AAAA, buildQuery, parseAnswerA } from '../../src/dns/wire';
import { docs, mustLoad, serviceEntry } from '../unit/config/helpers';
import { TestDnsServer } from '../helpers/dnsserver';

const until = async (what: string, ok: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

async function ask(port: number, packet: Buffer, timeoutMs = 2000): Promise<Buffer | undefined> {
  const s = dgram.createSocket('udp4');
  try {
    return await new Promise<Buffer | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), timeoutMs);
      s.on('message', (m) => (clearTimeout(t), resolve(m)));
      s.send(packet, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

test('names are resolved, refreshed after their TTL, and kept through a resolver outage', async () => {
  const upstream = new TestDnsServer();
  await upstream.start();
  upstream.set('db.example.test', ['10.9.0.1', '10.9.0.2'], 1);
  const registry = new Registry();
  let changes = 0;
  const r = new HostResolver({ servers: [`127.0.0.1:${upstream.port}`], onChange: () => changes++, registry, floorMs: 50, ceilingMs: 200, timeoutMs: 200 });
  try {
    r.want(['db.example.test']);
    await until('first answer', () => changes === 1);
    assert.deepEqual(r.answers().get('db.example.test'), ['10.9.0.1', '10.9.0.2']);
    // A new answer after the TTL (kept within the ceiling here) is picked up and reported once.
    upstream.set('db.example.test', ['10.9.0.3'], 1);
    await until('refreshed answer', () => changes === 2);
    assert.deepEqual(r.answers().get('db.example.test'), ['10.9.0.3']);
    // An outage: lookups fail, the last good answer stays, failures are counted.
    upstream.fail = true;
    const before = upstream.queries.length;
    await until('failed lookups', () => upstream.queries.length >= before + 2);
    assert.deepEqual(r.answers().get('db.example.test'), ['10.9.0.3']);
    assert.equal(changes, 2);
    const failures = (await registry.getSingleMetric('nodemesh_dns_resolutions_total')!.get()).values.find((v) => v.labels.outcome === 'failure');
    assert.ok((failures?.value ?? 0) >= 1);
    // Back: the same answer is no change.
    upstream.fail = false;
    const seen = upstream.queries.length;
    await until('lookups again', () => upstream.queries.length >= seen + 2);
    assert.equal(changes, 2);
    // A name no longer wanted is dropped.
    r.want([]);
    assert.equal(r.answers().size, 0);
  } finally {
    r.stop();
    upstream.close();
  }
});

test('the DNS proxy answers mesh names from the view and forwards the rest unchanged', async () => {
  const upstream = new TestDnsServer();
  await upstream.start();
  upstream.set('example.org', ['203.0.113.7'], 60);
  const cfg = mustLoad(docs(
    serviceEntry('web', { hosts: ['web.shop.svc.cluster.local'], addresses: ['10.96.0.10'], ports: [{ number: 80, name: 'http' }], endpoints: [{ address: '10.1.0.1' }] }),
    serviceEntry('api', { hosts: ['api.example.com'], ports: [{ number: 443, name: 'tls' }], resolution: 'DNS' }),
  ));
  const alloc = allocate(cfg);
  const view = new DnsView(withAllocated(cfg, alloc), 'cluster.local');
  const registry = new Registry();
  const server = new DnsServer({ host: '127.0.0.1', port: 0, upstream: [`127.0.0.1:${upstream.port}`], view: () => view, registry });
  const { port } = await server.start();
  try {
    const a = parseAnswerA((await ask(port, buildQuery(1, 'web.shop', TYPE_A)))!);
    assert.deepEqual(a, { id: 1, rcode: 0, addresses: ['10.96.0.10'] });
    const b = parseAnswerA((await ask(port, buildQuery(2, 'API.example.com', TYPE_A)))!);
    assert.deepEqual(b?.addresses, [alloc.get('api.example.com')]);
    const c = parseAnswerA((await ask(port, buildQuery(3, 'api.example.com', TYPE_AAAA)))!);
    assert.deepEqual(c, { id: 3, rcode: 0, addresses: [] });
    // Not a mesh name: forwarded, the resolver's answer passed back (its id, its records).
    const d = parseAnswerA((await ask(port, buildQuery(4, 'example.org', TYPE_A)))!);
    assert.deepEqual(d, { id: 4, rcode: 0, addresses: ['203.0.113.7'] });
    const e = parseAnswerA((await ask(port, buildQuery(5, 'nowhere.example.org', TYPE_A)))!);
    assert.equal(e?.rcode, 3);
    assert.deepEqual(upstream.queries, ['example.org', 'nowhere.example.org']);
    // Malformed: dropped, counted, and the server still answers.
    assert.equal(await ask(port, Buffer.from('garbage'), 300), undefined);
    assert.equal(await ask(port, Buffer.alloc(0), 300), undefined);
    assert.ok(await ask(port, buildQuery(6, 'web.shop', TYPE_A)));
    const metric = async (name: string): Promise<number> => (await registry.getSingleMetric(name)!.get()).values.reduce((n, v) => n + v.value, 0);
    assert.equal(await metric('nodemesh_dns_malformed_total'), 2);
    assert.equal(await metric('nodemesh_dns_forwarded_total'), 2);
    assert.equal(await metric('nodemesh_dns_requests_total'), 6);
  } finally {
    server.close();
    upstream.close();
  }
});

test('a forwarded query no resolver answers is counted as a failure (the client retries)', async () => {
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
  const registry = new Registry();
  const server = new DnsServer({ host: '127.0.0.1', port: 0, upstream: [`127.0.0.1:${silent.address().port}`], view: () => undefined, registry, forwardTimeoutMs: 100 });
  const { port } = await server.start();
  try {
    assert.equal(await ask(port, buildQuery(9, 'example.org', TYPE_A), 400), undefined);
    await until('failure counted', () => true);
    const v = (await registry.getSingleMetric('nodemesh_dns_forward_failures_total')!.get()).values[0]?.value;
    assert.equal(v, 1);
  } finally {
    server.close();
    silent.close();
  }
});

test('DNS over TCP: framed queries answered in order; malformed frames close the connection', async () => {
  const { Framer, frame } = await import('../../src/dns/tcp');
  const net = await import('node:net');
  const cfg = mustLoad(docs(serviceEntry('web', { hosts: ['web.shop.svc.cluster.local'], addresses: ['10.96.0.10'], ports: [{ number: 80, name: 'http' }], endpoints: [{ address: '10.1.0.1' }] })));
  const view = new DnsView(cfg, 'cluster.local');
  const server = new DnsServer({ host: '127.0.0.1', port: 0, upstream: [], view: () => view, registry: new Registry() });
  const { port } = await server.start();
  try {
    const answers = await new Promise<Buffer[]>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        // Two queries in one write, the second split across two writes.
        const two = Buffer.concat([frame(buildQuery(1, 'web.shop', TYPE_A)), frame(buildQuery(2, 'web.shop.svc', TYPE_A))]);
        s.write(two.subarray(0, 40));
        setTimeout(() => s.write(two.subarray(40)), 20);
      });
      const f = new Framer();
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => {
        got.push(...f.push(d));
        if (got.length === 2) (s.destroy(), resolve(got));
      });
      s.on('error', reject);
    });
    assert.deepEqual(answers.map((a) => parseAnswerA(a)), [
      { id: 1, rcode: 0, addresses: ['10.96.0.10'] },
      { id: 2, rcode: 0, addresses: ['10.96.0.10'] },
    ]);
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => s.write(frame(Buffer.from('not dns at all'))));
      s.on('close', () => resolve(true));
      s.on('error', () => resolve(true));
      setTimeout(() => resolve(false), 2000);
    });
    assert.equal(closed, true);
  } finally {
    server.close();
  }
});
