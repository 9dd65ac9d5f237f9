// Messages between the main thread and a proxy worker (worker_threads; structured clone). Plain data
// only: a config arrives unfrozen and the worker freezes it again.
import type { SharedEjection } from '../balance/set';
import type { MeshConfig } from '../config/model';
import type { JSONWebKeySet } from 'jose';
import type { HeldCerts } from '../identity/mirror';
import type { AgentOptions } from '../options';

/** workerData of a proxy worker. */
export interface WorkerInit {
  readonly index: number;
  readonly opts: AgentOptions;
  /** The resolved delivery address (undefined: none). */
  readonly delivery: string | undefined;
  /** The port every worker's tunnel listener binds (the first worker's, when --tunnel-port is 0). */
  readonly tunnelPort: number;
  readonly certs: HeldCerts;
  /** The JWKS held by URI (identity/jwks-mirror.ts). */
  readonly jwks: Readonly<Record<string, JSONWebKeySet>>;
  /** The shared rate limit table (policy/sharedratelimit.ts). */
  readonly rateTable: SharedArrayBuffer;
}

export type ToWorker =
  | { readonly t: 'prepare' | 'install'; readonly gen: number; readonly config: MeshConfig; readonly partial: boolean; readonly rateTable: SharedArrayBuffer }
  | { readonly t: 'commit' | 'abort'; readonly gen: number }
  | { readonly t: 'certs'; readonly certs: HeldCerts }
  /** The main thread fetched URI's JWKS (keys undefined: none yet); or everything held (a worker that booted). */
  | { readonly t: 'jwks'; readonly uri: string; readonly keys: JSONWebKeySet | undefined }
  | { readonly t: 'jwks-all'; readonly all: Readonly<Record<string, JSONWebKeySet>> }
  /** An ejection another worker decided (forwarded by the main thread). */
  | { readonly t: 'eject'; readonly ejection: SharedEjection }
  /** Open the outbound listener (capture) or the VIP listeners (--no-capture) on PORT. */
  | { readonly t: 'listen'; readonly id: number; readonly port: number }
  /** scrape: the worker's metrics as JSON. state: a test stand-in's own state (a real worker does not answer it). */
  | { readonly t: 'scrape' | 'state'; readonly id: number }
  /** Liveness: answered at once with an empty reply. */
  | { readonly t: 'ping'; readonly id: number }
  /** Stop accepting, finish in-flight requests within DRAIN_MS, release everything. */
  | { readonly t: 'close'; readonly id: number; readonly drainMs: number };

export type FromWorker =
  | { readonly t: 'booted'; readonly tunnelPort: number }
  | { readonly t: 'prepared' | 'committed'; readonly gen: number }
  | { readonly t: 'rejected'; readonly gen: number; readonly error: string }
  /** A request found no keys (or an unknown kid) for URI: the main thread fetches and posts them. */
  | { readonly t: 'jwks-refresh'; readonly uri: string }
  /** An ejection this worker decided: the main thread tells the others. */
  | { readonly t: 'ejected'; readonly ejection: SharedEjection }
  /** An answer to the request with this id (listen: { fds, port }; scrape: metrics JSON; close). */
  | { readonly t: 'reply'; readonly id: number; readonly value: unknown; readonly error?: string };
