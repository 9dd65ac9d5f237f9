// A worker's DataPlane binds each listener once: a listen request and a commit (or two commits) that
// ask for the same listener while it is being bound share it, rather than binding a second socket
// that nothing tracks (it would keep accepting after close).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataPlane } from '../../src/dataplane';
import { SharedRateLimiter, tableSlotsFor } from '../../src/policy/sharedratelimit';
import type { AgentOptions } from '../../src/options';

test('dataplane: concurrent listens for one address bind one socket', async (t) => {
  const opts = {
    capture: false, node: 'n1', nodeIp: '127.0.0.1', trustDomain: 'cluster.local', clusterId: 'Kubernetes',
    accessLog: false, tunnelPort: 0, deliveryAddress: 'none',
  } as unknown as AgentOptions;
  const dp = await DataPlane.start(
    { index: 0, opts, delivery: undefined, tunnelPort: 0, certs: { root: undefined, held: [] }, jwks: {}, rateTable: new SharedRateLimiter({ slots: tableSlotsFor([]) }).buffer },
    () => undefined,
    () => undefined,
  );
  t.after(() => dp.close(0));
  // Port 0: two separate binds would get two different ports.
  const [a, b] = await Promise.all([dp.listen(0), dp.listen(0)]);
  assert.equal(a.port, b.port);
  assert.equal(a.fd, b.fd);
  assert.deepEqual(await dp.listen(0), a, 'a later listen gets the same listener');
});
