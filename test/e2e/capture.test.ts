// The captured path through the real kernel: connect4 → agent → endpoints (proxy mode), connect4 →
// endpoint (kernel mode), and what the maps and metrics say about it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { inspectPins } from '../../src/capture/stat';
import { serviceId } from '../../src/config/ids';
import { metricSum, Mesh, NODE, rootTest, sleep } from './harness';
import { backend, closeAll, docs, serviceEntry, vip } from './fixtures';

rootTest('proxy mode: the kernel redirects to the agent, which round-robins across two endpoints', async (t) => {
  const [b1, b2] = [await backend('b1'), await backend('b2')];
  const v = vip();
  const mesh = new Mesh({ config: serviceEntry({ name: 'web', vip: v, ports: [b1.port, b2.port] }) });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([b1, b2]);
  });
  await mesh.start();
  const id = serviceId('e2e/web');

  // A held-open connection: its original destination and both sockets must be in the kernel maps.
  const hold = spawn('sh', ['-c', `echo $$ > ${path.join(mesh.pods, 'cgroup.procs')} && exec ${NODE} ${path.join(__dirname, 'clients/hold.js')} ${v}:80`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const first = await new Promise<{ localPort: number; status: string }>((resolve, reject) => {
    hold.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()) as { localPort: number; status: string }));
    hold.once('exit', (c) => reject(new Error(`hold client exited ${c}`)));
  });
  assert.equal(first.status, '200');
  const view = inspectPins(mesh.pin);
  const entry = view.origDst.find((e) => e.client === `127.0.0.1:${first.localPort}`);
  assert.ok(entry, `no nm_orig_dst entry for the client port ${first.localPort}: ${JSON.stringify(view.origDst)}`);
  assert.equal(entry.orig, `${v}:80`);
  assert.equal(entry.agent, `127.0.0.1:${mesh.ports.outbound}`);
  assert.equal(entry.serviceId, id);
  assert.ok(view.sockhashEntries >= 2, `pod and agent sockets in the sockhash, got ${view.sockhashEntries}`);
  hold.stdin.end();
  await new Promise((r) => hold.once('exit', r));

  // Ten requests on one keep-alive connection alternate between the endpoints.
  const urls = Array.from({ length: 10 }, () => `http://${v}/`);
  const body = await mesh.curl(...urls);
  assert.equal(body.match(/b1/g)?.length, 5, body);
  assert.equal(body.match(/b2/g)?.length, 5, body);
  assert.match(body, /^(b1b2|b2b1)+$/);

  await sleep(300); // let sockops see both closes
  const after = inspectPins(mesh.pin);
  const c = after.counters.get(id);
  assert.ok(c);
  assert.equal(c.redirected, 2, 'two connect() calls redirected');
  assert.equal(c.opened, 2);
  assert.equal(c.closed, 2);
  assert.ok(after.globals.msg_redirect! > 0, 'sk_msg spliced pod↔agent bytes');
  assert.ok(c.splicedBytes > 0 && c.bytesSent > 0 && c.bytesReceived > 0);

  const m = await mesh.metrics();
  assert.equal(metricSum(m, 'istio_requests_total', { destination_service_name: 'web', response_code: '200', reporter: 'source' }), 11);
  assert.equal(metricSum(m, 'nodemesh_kernel_connections_opened_total', { destination_service_name: 'web' }), 2);
  assert.equal(metricSum(m, 'nodemesh_kernel_redirected_total', { destination_service_name: 'web' }), 2);
  assert.equal(b1.hits + b2.hits, 11);
});

rootTest('kernel mode: connect4 balances across endpoints with no agent hop, and counts', async (t) => {
  const [b1, b2] = [await backend('k1'), await backend('k2')];
  const v = vip();
  const mesh = new Mesh({ config: serviceEntry({ name: 'kern', vip: v, ports: [b1.port, b2.port], kernel: true }) });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([b1, b2]);
  });
  await mesh.start();
  const seen: string[] = [];
  for (let i = 0; i < 4; i++) seen.push(await mesh.curl(`http://${v}/`));
  assert.deepEqual(seen.filter((s) => s === 'k1').length, 2, seen.join(','));
  assert.deepEqual(seen.filter((s) => s === 'k2').length, 2, seen.join(','));

  await sleep(300);
  const view = inspectPins(mesh.pin);
  const c = view.counters.get(serviceId('e2e/kern'));
  assert.ok(c);
  assert.equal(c.redirected, 4);
  assert.equal(c.opened, 4);
  assert.equal(c.closed, 4);
  assert.ok(c.bytesSent > 0 && c.bytesReceived > 0);
  assert.equal(c.splicedBytes, 0);
  assert.equal(view.globals.connect_kernel, 4);
  assert.equal(view.origDst.length, 0, 'kernel mode keeps no original destination for the agent');

  const m = await mesh.metrics();
  assert.equal(metricSum(m, 'istio_requests_total'), 0, 'the agent saw no request');
  assert.equal(metricSum(m, 'istio_tcp_connections_opened_total'), 0, 'the agent saw no connection');
  assert.equal(metricSum(m, 'nodemesh_kernel_connections_opened_total', { destination_service_name: 'kern', dataplane: 'kernel' }), 4);
});

rootTest('passive failover: a refusing endpoint costs at most one 503, never a hang', async (t) => {
  const b1 = await backend('ok');
  const closedPort = (await backend('gone'));
  await closeAll([closedPort]);
  const v = vip();
  const mesh = new Mesh({ config: serviceEntry({ name: 'fo', vip: v, ports: [closedPort.port, b1.port] }) });
  t.after(async () => {
    await mesh.cleanup();
    await closeAll([b1]);
  });
  await mesh.start();
  const codes: string[] = [];
  for (let i = 0; i < 8; i++) codes.push(await mesh.curl('-o', '/dev/null', '-w', '%{http_code}', `http://${v}/`));
  const failures = codes.filter((c) => c !== '200');
  assert.ok(failures.length <= 1, `at most one failed attempt: ${codes.join(',')}`);
  assert.ok(failures.every((c) => c === '503'), codes.join(','));
  assert.equal(b1.hits, 8 - failures.length);
  const m = await mesh.metrics();
  assert.equal(metricSum(m, 'istio_requests_total', { response_code: '503', response_flags: 'UF' }), failures.length);
  void docs;
});
