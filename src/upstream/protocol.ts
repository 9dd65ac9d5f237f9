// Which protocol a request speaks to its endpoint, as Istio's Envoy chooses it from the destination port's
// protocol and the DestinationRule's connectionPool.http: `HTTP2` and `GRPC` ports speak h2c; `HTTP`
// ports speak HTTP/1.1 whatever the client speaks, and sniffed ports the client's protocol (Istio's
// use_downstream_protocol for undeclared ports), unless useClientProtocol keeps the client's protocol or
// h2UpgradePolicy UPGRADE makes it h2c. One difference: a gRPC request from an HTTP/2 client stays h2c
// (gRPC cannot be carried over HTTP/1.1). Pure.
import type { PortProtocol } from '../config/model';
import type { ConnectionPool } from '../config/traffic';

/**
 * True: the request goes upstream as HTTP/2 (h2c, or h2 over TLS origination); false: as HTTP/1.1.
 * PORT: the destination service port's protocol (undefined = sniffed). CLIENT_H2: the client spoke
 * HTTP/2. GRPC: content-type application/grpc. POOL: the destination's merged connectionPool.
 */
export function upstreamH2(port: PortProtocol | undefined, clientH2: boolean, grpc: boolean, pool: ConnectionPool | undefined): boolean {
  if (port === 'HTTP2' || port === 'GRPC') return true;
  if (pool !== undefined) {
    if (pool.useClientProtocol === true) return clientH2;
    if (pool.h2Upgrade === true) return true;
  }
  if (port === undefined) return clientH2;
  return clientH2 && grpc;
}
