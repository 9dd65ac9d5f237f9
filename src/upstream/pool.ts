// Keep-alive connection pools to upstream endpoints. One node http.Agent keeps a pool per
// "host:port" (so, per endpoint); LIFO reuse keeps a few hot connections and lets the rest idle out.
import * as http from 'node:http';

export interface PoolOptions {
  /** Idle pooled connection lifetime; a server's "Keep-Alive: timeout=N" hint shortens it. */
  readonly idleMs: number;
  /** Idle connections kept per endpoint. */
  readonly maxFreeSockets?: number;
}

export class UpstreamPool {
  readonly agent: http.Agent;

  constructor(opts: PoolOptions) {
    this.agent = new http.Agent({
      keepAlive: true,
      keepAliveMsecs: 15_000,
      maxSockets: Infinity,
      maxFreeSockets: opts.maxFreeSockets ?? 64,
      scheduling: 'lifo',
      // node's Agent already sets TCP_NODELAY on its sockets.
      timeout: opts.idleMs,
    });
  }

  /** Closes pooled and in-use upstream connections. */
  close(): void {
    this.agent.destroy();
  }
}
