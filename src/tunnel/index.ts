// The HBONE tunnel as the agent uses it: the server on :15008 (inbound), the pool (outbound),
// splice() to join a tunnel stream to a TCP socket, and the Prometheus hooks.
export { startTunnelServer, refuseStream, DEFAULT_SERVER_LIMITS } from './server';
export type { TunnelServer, TunnelServerOptions, TunnelServerLimits, TunnelStreamContext } from './server';
export { TunnelPool } from './client';
export type { TunnelPoolOptions, OpenParams } from './client';
export { splice } from './splice';
export type { SpliceResult } from './splice';
export { tunnelMetrics, REJECT_REASONS } from './metrics';
export type { RejectReason, TunnelServerMetrics, TunnelPoolMetrics } from './metrics';
export type { KeyCert } from './tls';
export { encodeSni, decodeSni, formatForwarded, parseForwarded, parseAuthority, formatAuthority, spiffeIdFromSan, peerSpiffeId } from './wire';
