// What an agent runs with: every setting the CLI (cli/agent-options.ts) or a test gives it, and the
// defaults of Istio's ports and paths.
import * as path from 'node:path';
import type { MapCapacity } from './capture/capacity';

export interface AgentOptions {
  /** The ConfigMap (file or directory); optional when the mesh view comes from the Kubernetes API. */
  config: string | undefined;
  /** Kubernetes discovery: undefined = off; kubeconfig undefined = in-cluster or $KUBECONFIG. */
  kubernetes?: { kubeconfig: string | undefined };
  /** source_cluster / destination_cluster, as Istio reports them ("Kubernetes" by default). */
  clusterId: string;
  clusterDomain: string;
  capture: boolean;
  cgroup: string;
  bpffs: string;
  objects: string;
  node: string;
  /** --locality region/zone/subzone; else the Node's topology labels (discovery or a Node document). */
  locality?: string;
  nodeIp: string;
  outboundPort: number;
  adminHost: string;
  metricsPort: number;
  readyPort: number;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  accessLog: boolean;
  trustDomain: string;
  tunnelPort: number;
  ca?: { address: string; rootFile: string; tokenFile: string };
  deliveryAddress: string;
  certTtlSeconds?: number;
  /** Proxies in front of clients (--trusted-proxies): how far from the right X-Forwarded-For is read. */
  trustedProxies?: number;
  /** A client must send a whole request head within this (408 after it); --header-timeout. */
  headerTimeoutMs?: number;
  /** A connection with no request in flight is closed after this; --idle-timeout. */
  idleTimeoutMs?: number;
  /** How long a stopping agent keeps serving in-flight and keep-alive requests; --drain-timeout. */
  drainTimeoutMs?: number;
  /** Kernel map capacities (--max-services, --max-backends, --max-connections, --max-meshed-pods). */
  mapCapacity?: Partial<MapCapacity>;
  /** The DNS proxy's port on nodeIp (--dns-port, default 15053; 0 = any free port). */
  dnsPort?: number;
  /** Resolvers to forward to and look ServiceEntry names up at (--dns-upstream); default /etc/resolv.conf's. */
  dnsUpstream?: readonly string[];
  /** false: no DNS proxy (--no-dns). */
  dnsProxy?: boolean;
  /** Refresh floor of ServiceEntry name lookups (ms; default 5 s). */
  dnsRefreshFloorMs?: number;
  /** Proxy worker threads (--workers); default: the CPUs the agent's cgroup allows (cli), 1 here. */
  workers?: number;
  /** The admin gRPC API on 127.0.0.1 (--admin-port; 0: any free port); absent: none (--no-admin-api). */
  adminPort?: number;
}

export const DEFAULTS = {
  cgroup: '/sys/fs/cgroup',
  bpffs: '/sys/fs/bpf/nodemesh',
  objects: path.resolve(__dirname, '../../build/bpf'),
  nodeIp: '127.0.0.1',
  outboundPort: 15001,
  adminHost: '0.0.0.0',
  metricsPort: 15020,
  readyPort: 15021,
  tunnelPort: 15008,
  trustDomain: 'cluster.local',
  clusterId: 'Kubernetes',
  clusterDomain: 'cluster.local',
} as const;
