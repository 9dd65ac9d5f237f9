// The agent's own listening ports, which no VIP and no endpoint may name on an address that reaches the
// agent: a VIP there would capture the agent's metrics or readiness port (meshed pods would reach a backend
// instead), an endpoint there would loop a service back into the agent. Pure: the agent passes its flags,
// `nodemesh check` uses the defaults.

export interface Reserved {
  /**
   * Addresses on which the agent listens besides loopback (127.0.0.0/8, always reserved): the node IP, and
   * the admin host when it is not the wildcard.
   */
  readonly addresses?: readonly string[];
  /** The agent's ports by what they are for ("outbound", "tunnel", "metrics", "ready"). */
  readonly ports: Readonly<Record<string, number>>;
}

/** The agent's default ports (src/agent.ts DEFAULTS; a unit test keeps the two equal). */
export const DEFAULT_AGENT_PORTS = { outbound: 15001, tunnel: 15008, metrics: 15020, ready: 15021 } as const;

export const DEFAULT_RESERVED: Reserved = { addresses: ['127.0.0.1'], ports: DEFAULT_AGENT_PORTS };

/** What the agent's flags reserve. */
export function agentReserved(o: {
  readonly nodeIp: string;
  readonly adminHost: string;
  readonly outboundPort: number;
  readonly tunnelPort: number;
  readonly metricsPort: number;
  readonly readyPort: number;
}): Reserved {
  const addresses = [o.nodeIp, ...(o.adminHost !== '0.0.0.0' && o.adminHost !== '' ? [o.adminHost] : [])];
  return {
    addresses,
    ports: { outbound: o.outboundPort, tunnel: o.tunnelPort, metrics: o.metricsPort, ready: o.readyPort },
  };
}

/** Why ADDRESS:PORT is the agent itself ("the agent's metrics port 15020 on 127.0.0.1"), or undefined. */
export function reservedUse(r: Reserved, address: string, port: number): string | undefined {
  const local = address.startsWith('127.') || (r.addresses ?? []).includes(address);
  if (!local) return undefined;
  const use = Object.entries(r.ports).find(([, p]) => p === port)?.[0];
  if (use === undefined) return undefined;
  const where = address.startsWith('127.') ? 'loopback' : 'the node address';
  return `${address}:${port} is the agent's own ${use} port (${where})`;
}
