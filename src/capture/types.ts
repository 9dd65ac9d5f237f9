// What the rest of the agent needs from the datapath. capture/bpf.ts implements it over the kernel
// maps; NoCapture (below) serves --no-capture, where clients reach the agent's own VIP listeners.
import type { MeshConfig } from '../config/model';

export interface Addr {
  readonly address: string;
  readonly port: number;
}

/** Per-service counters kept by the sockops/sk_msg programs (pinned, so they survive restarts). */
export interface KernelCounters {
  readonly serviceId: number;
  readonly opened: number;
  readonly closed: number;
  /** Bytes the client sent / received, TCP path plus spliced path. */
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Connections connect4 sent to the agent (proxy mode) or to a backend (kernel mode). */
  readonly redirected: number;
  /** Bytes moved socket-to-socket by sk_msg (bpf_msg_redirect_hash). */
  readonly splicedBytes: number;
}

export interface MapStat {
  readonly name: string;
  readonly entries: number;
  readonly maxEntries: number;
}

export interface Datapath {
  readonly mode: 'ebpf' | 'none';
  /** Writes the services/backends maps for a new config, in place by difference (capture/diff.ts orders the writes). */
  /**
   * PRUNE false (a partial view, before discovery's first list): adds and updates only, so what a
   * previous agent put there for the full view stays until the full view is known.
   */
  sync(config: MeshConfig, opts?: { readonly prune?: boolean }): void;
  /**
   * Opt-in capture (Istio ambient style). undefined: opt-in off, every process below the attach cgroup
   * is in the mesh. A list: only processes in these cgroups (pod cgroup ids) or below them are; the
   * kernel set is made equal to the list by difference, and connections already open are left as they are.
   */
  syncMeshed(cgroupIds: readonly bigint[] | undefined): void;
  counters(): KernelCounters[];
  maps(): MapStat[];
  /** True while every program is attached. */
  attached(): boolean;
  /** Releases file descriptors; pins (and so the kernel datapath) stay. */
  close(): void;
}
