import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Addr } from '../../../src/capture/types';
import { classifyTlsError } from '../../../src/tunnel/tls';
import {
  decodeSni,
  encodeSni,
  formatAuthority,
  formatForwarded,
  inTrustDomain,
  parseAuthority,
  parseForwarded,
  parseSubjectAltName,
  spiffeIdFromSan,
  trustDomainHash,
} from '../../../src/tunnel/wire';

test('formatForwarded quotes the node (":" and "[" are not token characters) and leaves out an unknown port', () => {
  const cases: Array<[Addr, string]> = [
    [{ address: '1.2.3.4', port: 5678 }, 'for="1.2.3.4:5678"'],
    [{ address: '::1', port: 80 }, 'for="[::1]:80"'],
    [{ address: 'fd00::a:b', port: 65535 }, 'for="[fd00::a:b]:65535"'],
    // Port unknown (0): left out, so the peer reads the address back (it refuses ":0").
    [{ address: '10.1.2.3', port: 0 }, 'for="10.1.2.3"'],
    [{ address: 'fd00::7', port: 0 }, 'for="[fd00::7]"'],
  ];
  for (const [addr, want] of cases) {
    assert.equal(formatForwarded(addr), want);
    assert.deepEqual(parseForwarded(want), addr, want);
  }
});

test('parseForwarded: the first element, quoted or not, IPv4 or bracketed IPv6', () => {
  const cases: Array<[string | undefined, Addr | undefined]> = [
    ['for="1.2.3.4:5678"', { address: '1.2.3.4', port: 5678 }],
    ['for=1.2.3.4', { address: '1.2.3.4', port: 0 }],
    ['For="1.2.3.4"', { address: '1.2.3.4', port: 0 }],
    ['for="[2001:db8::1]:443"', { address: '2001:db8::1', port: 443 }],
    ['for="[2001:db8::1]"', { address: '2001:db8::1', port: 0 }],
    ['proto=https; for="10.0.0.1:1" ;by=10.0.0.2', { address: '10.0.0.1', port: 1 }],
    ['for="10.0.0.1:1", for="10.0.0.2:2"', { address: '10.0.0.1', port: 1 }],
    ['host="a,b;c"; for="10.0.0.3:3"', { address: '10.0.0.3', port: 3 }],
    // Not an address: refused rather than guessed.
    [undefined, undefined],
    ['', undefined],
    ['for=unknown', undefined],
    ['for=_hidden', undefined],
    ['for="1.2.3.4:0"', undefined],
    ['for="1.2.3.4:99999"', undefined],
    ['for="1.2.3.4:+80"', undefined],
    ['for="[1.2.3.4]:80"', undefined],
    ['for="2001:db8::1"', undefined],
    ['for="1.2.3.4:80', undefined],
    ['for="1.2.3.4:80" junk', undefined],
    ['by=10.0.0.1', undefined],
    ['for="1.2.3.4:5"; for="6.7.8.9:1"', undefined],
  ];
  for (const [header, want] of cases) assert.deepEqual(parseForwarded(header), want, String(header));
});

test('parseAuthority accepts exactly ipv4:port', () => {
  assert.deepEqual(parseAuthority('10.1.2.3:8080'), { address: '10.1.2.3', port: 8080 });
  assert.deepEqual(parseAuthority('0.0.0.0:1'), { address: '0.0.0.0', port: 1 });
  assert.deepEqual(parseAuthority('255.255.255.255:65535'), { address: '255.255.255.255', port: 65535 });
  for (const bad of [
    undefined,
    '',
    '10.1.2.3',
    '10.1.2.3:',
    ':80',
    'pod.ns.svc:80',
    'localhost:80',
    '010.1.2.3:80',
    '10.1.2:80',
    '10.1.2.3.4:80',
    '256.1.2.3:80',
    '10.1.2.3:0',
    '10.1.2.3:080',
    '10.1.2.3:65536',
    '10.1.2.3:80 ',
    ' 10.1.2.3:80',
    '[::1]:80',
    '10.1.2.3:8a',
    'user@10.1.2.3:80',
  ]) {
    assert.equal(parseAuthority(bad), undefined, String(bad));
  }
  assert.equal(formatAuthority({ address: '10.1.2.3', port: 80 }), '10.1.2.3:80');
  assert.equal(formatAuthority({ address: '::1', port: 80 }), '[::1]:80');
});

test('SNI names an identity reversibly within the trust domain', () => {
  const id = 'spiffe://cluster.local/ns/shop/sa/backend';
  const sni = encodeSni(id);
  assert.equal(sni, `backend.shop.${trustDomainHash('cluster.local')}.hbone.nodemesh`);
  assert.equal(decodeSni(sni, 'cluster.local'), id);
  assert.equal(decodeSni(sni?.toUpperCase(), 'cluster.local'), id);
  // Service accounts may contain dots; namespaces may not, so parsing from the right is unambiguous.
  const dotted = 'spiffe://corp_prod.example/ns/team-a/sa/svc.v2.api';
  assert.equal(decodeSni(encodeSni(dotted), 'corp_prod.example'), dotted);
  // Another trust domain's SNI, foreign names and malformed names decode to nothing.
  assert.equal(decodeSni(sni, 'other.local'), undefined);
  for (const bad of [undefined, '', 'example.com', 'hbone.nodemesh', 'x.hbone.nodemesh', `.shop.${trustDomainHash('cluster.local')}.hbone.nodemesh`, `a..${trustDomainHash('cluster.local')}.hbone.nodemesh`, `A_B.shop.${trustDomainHash('cluster.local')}.hbone.nodemesh`]) {
    assert.equal(decodeSni(bad, 'cluster.local'), undefined, String(bad));
  }
  assert.equal(encodeSni('spiffe://cluster.local/ns/shop/sa/Backend'), undefined);
  assert.equal(encodeSni('https://cluster.local/ns/shop/sa/backend'), undefined);
  // Too long for a DNS name: no SNI rather than a truncated one.
  const longSa = Array.from({ length: 4 }, () => 'a'.repeat(62)).join('.');
  assert.equal(encodeSni(`spiffe://cluster.local/ns/shop/sa/${longSa}`), undefined);
});

test('parseSubjectAltName reads node\'s format, including JSON-quoted values', () => {
  assert.deepEqual(parseSubjectAltName('DNS:a.example, URI:spiffe://td/ns/a/sa/b, IP Address:10.0.0.1'), [
    ['DNS', 'a.example'],
    ['URI', 'spiffe://td/ns/a/sa/b'],
    ['IP Address', '10.0.0.1'],
  ]);
  assert.deepEqual(parseSubjectAltName('URI:"spiffe://td/ns/a/sa/b, URI:spiffe://evil"'), [['URI', 'spiffe://td/ns/a/sa/b, URI:spiffe://evil']]);
  assert.deepEqual(parseSubjectAltName(''), []);
  assert.equal(parseSubjectAltName('URI:"unterminated'), undefined);
  assert.equal(parseSubjectAltName('no-colon'), undefined);
});

test('spiffeIdFromSan: exactly one URI SAN, a canonical SPIFFE id', () => {
  const id = 'spiffe://cluster.local/ns/shop/sa/backend';
  const cases: Array<[string | undefined, string | undefined]> = [
    [`URI:${id}`, id],
    [`DNS:backend.shop.svc, URI:${id}`, id],
    [undefined, undefined],
    ['DNS:backend.shop.svc', undefined],
    [`URI:${id}, URI:spiffe://cluster.local/ns/shop/sa/admin`, undefined],
    [`URI:${id}, URI:https://example.com`, undefined],
    ['URI:spiffe://cluster.local/ns/shop/sa/backend/', undefined],
    ['URI:spiffe://cluster.local/ns/shop', undefined],
    ['URI:SPIFFE://cluster.local/ns/shop/sa/backend', undefined],
    ['URI:spiffe://cluster.local/ns/shop/sa/back%2Fend', undefined],
    // A comma inside the value makes node quote it; it must not smuggle a second identity in.
    [`URI:"${id}, URI:spiffe://cluster.local/ns/x/sa/y"`, undefined],
  ];
  for (const [san, want] of cases) assert.equal(spiffeIdFromSan(san), want, String(san));
});

test('inTrustDomain compares the whole trust domain', () => {
  assert.equal(inTrustDomain('spiffe://cluster.local/ns/a/sa/b', 'cluster.local'), true);
  assert.equal(inTrustDomain('spiffe://cluster.local.evil/ns/a/sa/b', 'cluster.local'), false);
  assert.equal(inTrustDomain('spiffe://evil.cluster.local/ns/a/sa/b', 'cluster.local'), false);
  assert.equal(inTrustDomain('not-an-id', 'cluster.local'), false);
});

test('classifyTlsError maps OpenSSL and node codes to reject reasons', () => {
  const err = (code: string): Error & { code: string } => Object.assign(new Error(code), { code });
  assert.equal(classifyTlsError(err('ERR_SSL_WRONG_VERSION_NUMBER')), 'not_tls');
  assert.equal(classifyTlsError(err('ERR_SSL_HTTP_REQUEST')), 'not_tls');
  assert.equal(classifyTlsError(err('ERR_SSL_UNSUPPORTED_PROTOCOL')), 'tls_handshake');
  assert.equal(classifyTlsError(err('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE')), 'no_client_cert');
  assert.equal(classifyTlsError(err('ERR_SSL_NO_APPLICATION_PROTOCOL')), 'no_alpn');
  assert.equal(classifyTlsError(err('ERR_TLS_HANDSHAKE_TIMEOUT')), 'handshake_timeout');
  assert.equal(classifyTlsError(err('ECONNRESET'), 'CERT_HAS_EXPIRED'), 'expired_client_cert');
  assert.equal(classifyTlsError(err('ECONNRESET'), 'CERT_NOT_YET_VALID'), 'expired_client_cert');
  assert.equal(classifyTlsError(err('ECONNRESET'), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'bad_client_cert');
  assert.equal(classifyTlsError(err('ECONNRESET'), null), 'tls_handshake');
});
