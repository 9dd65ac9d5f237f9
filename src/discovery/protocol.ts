// The protocol of a Kubernetes Service port, as Istio decides it: `appProtocol` first (with the
// Kubernetes-defined `kubernetes.io/…` values), then Istio's port-name prefix rule. Undefined = sniff.
import { protocolFromName } from '../config/kinds/serviceentry';
import type { PortProtocol } from '../config/model';

/** Standard application protocols that Kubernetes defines for appProtocol (name cannot carry them). */
const KUBERNETES_APP_PROTOCOLS: ReadonlyMap<string, PortProtocol> = new Map([
  // HTTP/2 over cleartext: what an HTTP2 port is.
  ['kubernetes.io/h2c', 'HTTP2'],
  // WebSocket starts as HTTP/1.1; over TLS it is opaque to the agent. Istio maps wss to HTTPS.
  ['kubernetes.io/ws', 'HTTP'],
  ['kubernetes.io/wss', 'HTTPS'],
]);

export function portProtocol(name: string, appProtocol: string | undefined): PortProtocol | undefined {
  if (appProtocol !== undefined && appProtocol !== '') {
    const lower = appProtocol.toLowerCase();
    const standard = KUBERNETES_APP_PROTOCOLS.get(lower);
    if (standard !== undefined) return standard;
    // gRPC-Web is HTTP on the wire: sniff it, rather than fall back to a name that may say grpc.
    if (lower === 'grpc-web' || lower.startsWith('grpc-web-')) return undefined;
    const declared = protocolFromName(lower);
    if (declared !== undefined) return declared;
  }
  return protocolFromName(name);
}
