// Where things are, from one node's point of view: which workloads run here, which node an endpoint
// is on and where that node's agent listens, and who an endpoint is (its SPIFFE identity). Pure.
import { endpointPort, type Endpoint, type MeshConfig, type MeshNode, type PeerAuthn, type Service, type Workload } from '../config/model';
import { workloadIdentity } from '../identity/spiffe';
import type { InboundMode } from '../capture/layout';
import { mtlsMode } from '../policy/peerauth';

/** How the agent reaches an endpoint: itself (same node), through a peer agent's tunnel, or directly. */
export type Placement =
  | { kind: 'local' }
  | { kind: 'remote'; node: string; agent: string }
  | { kind: 'direct' };

export const TUNNEL_PORT = 15008;

/** A local pod port some service declares: HTTP ports are served per request (h2 too when the client
 *  opens with the preface), HTTP2/GRPC ports as HTTP/2, others as TCP. */
export interface LocalPort {
  readonly service: Service;
  readonly endpoint: Endpoint;
  readonly http: boolean;
  readonly h2: boolean;
}

export class Topology {
  readonly local: readonly Workload[];
  private readonly localIps: Set<string>;
  private readonly nodes: Map<string, MeshNode>;
  private readonly byIp: Map<string, Workload>;
  private readonly identities: readonly string[];
  /** Local pod ip:port → the service port it serves (and that endpoint), for the inbound side. */
  private readonly localPorts = new Map<string, LocalPort>();

  constructor(
    readonly config: MeshConfig,
    readonly nodeName: string,
    readonly trustDomain: string,
  ) {
    this.nodes = new Map(config.nodes.map((n) => [n.name, n]));
    this.byIp = new Map(config.workloads.map((w) => [w.address, w]));
    this.local = config.workloads.filter((w) => w.node === nodeName);
    this.localIps = new Set(this.local.map((w) => w.address));
    this.identities = [...new Set(this.local.map((w) => this.identityOf(w)))].sort();
    for (const s of config.services) {
      for (const p of s.ports) {
        for (const ep of s.endpoints) {
          const k = `${ep.address}:${endpointPort(ep, p)}`;
          if (this.localIps.has(ep.address) && !this.localPorts.has(k)) {
            this.localPorts.set(k, { service: s, endpoint: ep, http: p.protocol === 'HTTP', h2: p.protocol === 'HTTP2' || p.protocol === 'GRPC' });
          }
        }
      }
    }
  }

  /** The service a local pod port belongs to (undefined: not declared by any service). */
  localPort(ip: string, port: number): LocalPort | undefined {
    return this.localPorts.get(`${ip}:${port}`);
  }

  isLocalIdentity(id: string): boolean {
    return this.identities.includes(id);
  }

  /** Multi-node mode is on once the config names nodes; without Node documents everything is direct. */
  get meshed(): boolean {
    return this.nodes.size > 0;
  }

  isLocalIp(ip: string): boolean {
    return this.localIps.has(ip);
  }

  workloadByIp(ip: string): Workload | undefined {
    return this.byIp.get(ip);
  }

  placement(ep: Endpoint): Placement {
    if (!this.meshed || ep.node === undefined) return { kind: 'direct' };
    if (ep.node === this.nodeName) return { kind: 'local' };
    const addr = this.nodes.get(ep.node)?.addresses[0];
    return addr ? { kind: 'remote', node: ep.node, agent: addr } : { kind: 'direct' };
  }

  identityOf(w: { namespace: string; serviceAccount: string | undefined }): string {
    return workloadIdentity(w, this.trustDomain);
  }

  /** SPIFFE ids the agent needs certificates for: every workload on this node. */
  localIdentities(): readonly string[] {
    return this.identities;
  }

  /**
   * The kernel's inbound table: each local workload's mode (port 0) plus every port whose
   * port-level mode differs from it.
   */
  inboundModes(): InboundMode[] {
    const out: InboundMode[] = [];
    const policies = this.config.peerAuthentications;
    for (const w of this.local) {
      const base = mtlsMode(w, 0, policies);
      out.push({ ip: w.address, port: 0, mode: base });
      for (const port of portLevelPorts(policies)) {
        const m = mtlsMode(w, port, policies);
        if (m !== base) out.push({ ip: w.address, port, mode: m });
      }
    }
    return out;
  }
}

function portLevelPorts(policies: readonly PeerAuthn[]): number[] {
  const ports = new Set<number>();
  for (const p of policies) for (const k of Object.keys(p.portLevel)) ports.add(Number(k));
  return [...ports];
}
