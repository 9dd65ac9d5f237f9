// TLS plumbing shared by the tunnel server and pool: secure contexts cached by content (so a
// certificate or root rotation takes effect on the next handshake without rebuilding a context per
// connection), and the mapping from OpenSSL handshake errors to reject reasons.
import * as tls from 'node:tls';
import type { RejectReason } from './metrics';

export interface KeyCert {
  readonly key: string;
  /** Leaf first, then intermediates (PEM). */
  readonly cert: string;
}

interface Cached {
  readonly key: string;
  readonly cert: string;
  readonly root: string;
  readonly ctx: tls.SecureContext;
}

/** One secure context per identity, rebuilt only when its key, chain or root changes. */
export class SecureContextCache {
  private readonly byIdentity = new Map<string, Cached>();

  get(identity: string, kc: KeyCert, root: string): tls.SecureContext {
    const c = this.byIdentity.get(identity);
    if (c !== undefined && c.key === kc.key && c.cert === kc.cert && c.root === root) return c.ctx;
    const ctx = tls.createSecureContext({ key: kc.key, cert: kc.cert, ca: root, minVersion: 'TLSv1.3' });
    this.byIdentity.set(identity, { key: kc.key, cert: kc.cert, root, ctx });
    return ctx;
  }
}

/**
 * A reason for a failed server-side handshake. node surfaces OpenSSL's handshake failures as
 * `ERR_SSL_<REASON>`; client certificate verification happens after the handshake and is reported
 * through the socket's `authorizationError` (an X509_V_ERR name such as CERT_HAS_EXPIRED).
 */
export function classifyTlsError(err: Error & { code?: string }, authorizationError?: string | null): RejectReason {
  const code = err.code ?? '';
  if (typeof authorizationError === 'string' && authorizationError !== '') {
    return authorizationError === 'CERT_HAS_EXPIRED' || authorizationError === 'CERT_NOT_YET_VALID' ? 'expired_client_cert' : 'bad_client_cert';
  }
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'handshake_timeout';
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return 'no_client_cert';
  // The client offered ALPN without h2 (typically http/1.1): the handshake ends with an alert.
  if (code === 'ERR_SSL_NO_APPLICATION_PROTOCOL') return 'no_alpn';
  if (code === 'ERR_SSL_CERTIFICATE_VERIFY_FAILED' || /^ERR_SSL_SSLV3_ALERT_CERTIFICATE|^ERR_SSL_TLSV1_ALERT_UNKNOWN_CA/.test(code)) {
    return 'bad_client_cert';
  }
  // Plain TCP or cleartext HTTP: the first bytes are not a TLS record, so OpenSSL reports a bad
  // record header (wrong version number / http request) or a packet length it cannot accept.
  if (/^ERR_SSL_(WRONG_VERSION_NUMBER|HTTP_REQUEST|HTTPS_PROXY_REQUEST|PACKET_LENGTH_TOO_LONG|RECORD_LENGTH_MISMATCH|UNEXPECTED_MESSAGE|UNSUPPORTED_PROTOCOL|UNKNOWN_PROTOCOL)$/.test(code)) {
    return code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' ? 'tls_handshake' : 'not_tls';
  }
  return 'tls_handshake';
}
