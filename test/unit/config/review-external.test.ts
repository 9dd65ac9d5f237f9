// External services as `nodemesh check` shows them: the auto-allocated addresses of ServiceEntries
// without addresses, the names DNS resolution looks up, credentialName with a warning; DYNAMIC_DNS, IPv6
// and wide CIDRs refused with what to use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runCheck, summarize } from '../../../src/config/check';
import { allocate } from '../../../src/dns/view';
import { docs, loadText, mustLoad, serviceEntry } from './helpers';

const TLS = [{ number: 443, name: 'tls', protocol: 'TLS' }];

test('check shows the auto-allocated VIPs of a ServiceEntry without addresses, and its DNS names', () => {
  const c = mustLoad(docs(
    serviceEntry('api', { hosts: ['api.example.com', 'www.example.com'], ports: TLS, resolution: 'DNS', location: 'MESH_EXTERNAL' }),
    serviceEntry('db', { hosts: ['db.example.com'], ports: [{ number: 5432, name: 'tcp' }], resolution: 'DNS', endpoints: [{ address: 'db-0.example.net' }, { address: '10.1.2.3' }] }),
    serviceEntry('fixed', { hosts: ['fixed.example.com'], addresses: ['10.96.0.5'], ports: TLS, endpoints: [{ address: '10.1.0.1' }] }),
    serviceEntry('pass', { hosts: ['*.wild.example.com'], ports: TLS, resolution: 'NONE' }),
  ));
  const out = summarize(c);
  const alloc = allocate(c);
  const api = `${alloc.get('api.example.com')},${alloc.get('www.example.com')}(auto)`;
  assert.match(alloc.get('api.example.com')!, /^240\.240\.\d+\.\d+$/);
  assert.ok(out.includes(`default/api  proxy  vips=${api}  ports=443/TLS  endpoints=0  DNS=api.example.com,www.example.com  hosts=`), out);
  assert.ok(out.includes(`default/db  proxy  vips=${alloc.get('db.example.com')}(auto)  ports=5432/TCP  endpoints=1  DNS=db-0.example.net  hosts=`), out);
  assert.ok(out.includes('default/fixed  proxy  vips=10.96.0.5  ports=443/TLS  endpoints=1  hosts='), out);
  assert.ok(out.includes('default/pass  proxy  vips=-  ports=443/TLS  endpoints=0  resolution=NONE  hosts='), out);
  assert.match(out, /\(auto\): allocated from 240\.240\.0\.0\/16 by the agent's DNS proxy/);
  // The totals count configured VIPs only.
  assert.match(out, /^OK: 4 services, 1 VIP,/);
});

test('check without any allocation prints no (auto) note', () => {
  const c = mustLoad(docs(serviceEntry('fixed', { hosts: ['fixed.example.com'], addresses: ['10.96.0.5'], ports: TLS, endpoints: [{ address: '10.1.0.1' }] })));
  assert.doesNotMatch(summarize(c), /\(auto\)/);
});

test('resolution DYNAMIC_DNS is refused with what to use instead', () => {
  const r = loadText(docs(serviceEntry('dyn', { hosts: ['dyn.example.com'], ports: TLS, resolution: 'DYNAMIC_DNS' })));
  assert.equal(r.ok, false);
  if (r.ok) return;
  const hit = r.issues.find((i) => i.field === 'spec.resolution');
  assert.ok(hit, JSON.stringify(r.issues));
  assert.match(hit.message, /DYNAMIC_DNS is not supported: use DNS .*STATIC, or use NONE/);
  assert.equal(r.issues.length, 1, JSON.stringify(r.issues));
  // Other unknown values keep the list of choices.
  const r2 = loadText(docs(serviceEntry('dyn', { hosts: ['dyn.example.com'], ports: TLS, resolution: 'DNSS' })));
  assert.equal(r2.ok, false);
  if (!r2.ok) assert.match(r2.issues[0]!.message, /must be one of STATIC, NONE, DNS, DNS_ROUND_ROBIN/);
});

test('IPv6 and wide CIDR addresses are refused with the reason', () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ addresses: ['2001:db8::1'] }, 'spec.addresses[0]', /IPv6 is not supported/],
    [{ addresses: ['192.168.0.0/24'] }, 'spec.addresses[0]', /CIDR wider than \/32 is not supported \(list the addresses/],
    [{ addresses: ['10.96.0.9'], endpoints: [{ address: '2001:db8::2' }] }, 'spec.endpoints[0].address', /is not an IPv4 address: IPv6 is not supported/],
  ];
  for (const [over, field, message] of cases) {
    const r = loadText(docs(serviceEntry('v', { hosts: ['v.example.com'], ports: TLS, ...over })));
    assert.equal(r.ok, false);
    if (r.ok) continue;
    const hit = r.issues.find((i) => i.field === field);
    assert.ok(hit, JSON.stringify(r.issues));
    assert.match(hit.message, message);
  }
});

test('check accepts credentialName, warning that an agent without Kubernetes discovery refuses it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nm-check-'));
  try {
    const file = join(dir, 'mesh.yaml');
    writeFileSync(file, docs(
      serviceEntry('api', { hosts: ['api.example.com'], ports: [{ number: 80, name: 'http', targetPort: 443 }], resolution: 'DNS', location: 'MESH_EXTERNAL' }),
      { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'api', namespace: 'default' }, spec: { host: 'api.example.com', trafficPolicy: { tls: { mode: 'MUTUAL', credentialName: 'api-creds' } } } },
    ));
    const out = new Capture();
    const err = new Capture();
    assert.equal(await runCheck(file, out, err), 0, err.text);
    assert.match(out.text, /^OK: 1 service/);
    assert.match(err.text, /^warning: .*document 1 \(DestinationRule default\/api\): spec\.trafficPolicy\.tls\.credentialName: names a Kubernetes Secret: the agent must run with Kubernetes discovery/);
    // The agent's own reading without discovery still refuses it.
    const plain = loadText(readFileSync(file, 'utf8'));
    assert.equal(plain.ok, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}
