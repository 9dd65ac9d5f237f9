// Resolved DNS answers are held to what a listed endpoint address may be: never the agent's own ports on
// loopback or the node address (a connection would loop back into the agent), never unroutable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { docs, mustLoad, serviceEntry } from '../config/helpers';
import { withResolved, type Refused } from '../../../src/dns/resolved';
import { dnsReserved } from '../../../src/dns/agent';
import { DEFAULT_RESERVED } from '../../../src/config/reserved';

test('resolved addresses at the agent\'s own ports, or unroutable, are left out and reported', () => {
  const c = mustLoad(docs(
    serviceEntry('loop', { hosts: ['loop.example.com'], ports: [{ number: 80, name: 'http', targetPort: 15001 }], resolution: 'DNS' }),
    serviceEntry('node', { hosts: ['node.example.com'], ports: [{ number: 80, name: 'http' }], resolution: 'DNS', endpoints: [{ address: 'n.example.net', ports: { http: 15020 } }] }),
    serviceEntry('rr', { hosts: ['rr.example.com'], ports: [{ number: 15008, name: 'tcp' }], resolution: 'DNS_ROUND_ROBIN' }),
    serviceEntry('ok', { hosts: ['ok.example.com'], ports: [{ number: 80, name: 'http' }], resolution: 'DNS' }),
  ));
  const answers = new Map([
    ['loop.example.com', ['127.0.0.1', '10.0.0.1']],
    ['n.example.net', ['192.0.2.10', '10.0.0.2']],
    ['rr.example.com', ['127.0.0.5', '10.0.0.3']],
    ['ok.example.com', ['127.0.0.1', '0.0.0.0', '224.0.0.1', '10.0.0.4']],
  ]);
  const refused: Refused[] = [];
  const reserved = dnsReserved({ capture: true, nodeIp: '192.0.2.10', clusterDomain: 'cluster.local' });
  const r = withResolved(c, answers, reserved, (x) => refused.push(x));
  const by = (k: string) => r.services.find((s) => s.key === k)!.endpoints.map((e) => e.address);
  assert.deepEqual(by('default/loop'), ['10.0.0.1']);
  assert.deepEqual(by('default/node'), ['10.0.0.2']);
  // DNS_ROUND_ROBIN takes the first address that is allowed.
  assert.deepEqual(by('default/rr'), ['10.0.0.3']);
  // Port 80 on loopback is nobody's: allowed; unroutable addresses are not.
  assert.deepEqual(by('default/ok'), ['127.0.0.1', '10.0.0.4']);
  assert.deepEqual(refused.map((x) => `${x.service} ${x.name} ${x.address}`).sort(), [
    'default/loop loop.example.com 127.0.0.1',
    'default/node n.example.net 192.0.2.10',
    'default/ok ok.example.com 0.0.0.0',
    'default/ok ok.example.com 224.0.0.1',
    'default/rr rr.example.com 127.0.0.5',
  ]);
  const reason = (svc: string): string => refused.find((x) => x.service === svc)!.reason;
  assert.match(reason('default/loop'), /127\.0\.0\.1:15001 is the agent's own outbound port .*would loop back into the agent/);
  assert.match(reason('default/node'), /192\.0\.2\.10:15020 is the agent's own metrics port \(the node address\)/);
});

test('the DNS part reserves what the agent\'s flags say, defaults otherwise', () => {
  assert.deepEqual(dnsReserved({ capture: false, nodeIp: '10.0.0.9', clusterDomain: 'cluster.local' }), { addresses: ['10.0.0.9'], ports: DEFAULT_RESERVED.ports });
  const r = dnsReserved({ capture: true, nodeIp: '10.0.0.9', clusterDomain: 'c', adminHost: '10.0.0.8', outboundPort: 16001, tunnelPort: 16008, metricsPort: 16020, readyPort: 16021 });
  assert.deepEqual(r, { addresses: ['10.0.0.9', '10.0.0.8'], ports: { outbound: 16001, tunnel: 16008, metrics: 16020, ready: 16021 } });
});
