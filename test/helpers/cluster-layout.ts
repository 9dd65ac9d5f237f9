// The layout of a namespace cluster (cluster.ts builds it and tears it down): names, addresses and cgroup
// paths of its nodes and pods, and the `ip` commands that wire each namespace. Nothing here touches the
// host.
import { randomBytes, randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { kubeletPodCgroup, type KubeletLayout, type QosClass } from './sysenv';

export interface Pod {
  /** `n<i>-p<j>`: also the WorkloadEntry name. */
  readonly name: string;
  /** Name of the node the pod runs on (`node-<i>`). */
  readonly node: string;
  readonly ns: string;
  readonly ip: string;
  /** Where the pod's processes run: the pod cgroup (flat layout) or its container cgroup (kubelet layout). */
  readonly cgroup: string;
  // Always set by Cluster (optional only so that hand-made Pod values elsewhere stay valid):
  /** The pod-level cgroup (the kubelet's `…pod<uid>…` directory); the same as `cgroup` in the flat layout. */
  readonly podCgroup?: string;
  /** metadata.uid: a UUID, also in the pod cgroup's name in the kubelet layout. */
  readonly uid?: string;
  /** status.qosClass: decides where the kubelet puts the pod cgroup. Mixed across the cluster's pods. */
  readonly qosClass?: QosClass;
}

export interface ClusterNode {
  readonly name: string;
  readonly index: number;
  readonly ns: string;
  /** The node IP: agents listen here (:15001 for redirected pods, :15008 for other agents). */
  readonly ip: string;
  /** The cgroup the node's agent attaches connect4/sockops to; every pod cgroup is below it. */
  readonly podCgroupRoot: string;
  readonly agentCgroup: string;
  readonly pods: readonly Pod[];
}

const QOS_CYCLE: readonly QosClass[] = ['Guaranteed', 'Burstable', 'BestEffort'];

/** Source address of the agent towards local pods, on every node's lo (pod policy keys on it). */
export const AGENT_SOURCE_IP = '169.254.7.127';

// Node: lo 1, fab 10, p<j> 20+j; fabric: n<i> 300+i; pod: eth0 2. No link shares its peer's ifindex.
const FAB_IFINDEX = 10;
const POD_LINK_IFINDEX = 20;
const FABRIC_PORT_IFINDEX = 300;
const POD_ETH0_IFINDEX = 2;

/**
 * Second octet of every address of cluster ID: 10.64.0.0/10, varied by id. Clusters never share a
 * namespace, so this only keeps addresses of parallel clusters apart in logs and captures.
 */
export function subnetOf(id: string): number {
  return 64 + (fnv1a(id) % 64);
}

/** Nodes `node-<i>` at 10.<subnet>.0.<i+1>, their pods `n<i>-p<j>` at 10.<subnet>.<i+1>.<j+2>, cgroups below CGROUP_ROOT. */
export function layoutNodes(id: string, cgroupRoot: string, subnet: number, nodeCount: number, podsPerNode: number, layout?: KubeletLayout): ClusterNode[] {
  const a = `10.${subnet}`;
  return Array.from({ length: nodeCount }, (_, i) => {
    const cg = path.join(cgroupRoot, `n${i}`);
    const pods: Pod[] = Array.from({ length: podsPerNode }, (_, j) => {
      const uid = randomUUID();
      const qosClass = QOS_CYCLE[(i * podsPerNode + j) % QOS_CYCLE.length]!;
      const k = layout ? kubeletPodCgroup(layout, uid, qosClass, randomBytes(32).toString('hex')) : undefined;
      const flat = path.join(cg, 'pods', `p${j}`);
      return {
        name: `n${i}-p${j}`,
        node: `node-${i}`,
        ns: `nm${id}-n${i}-p${j}`,
        ip: `${a}.${i + 1}.${j + 2}`,
        cgroup: k ? path.join(cg, 'pods', k.container) : flat,
        podCgroup: k ? path.join(cg, 'pods', k.pod) : flat,
        uid,
        qosClass,
      };
    });
    return { name: `node-${i}`, index: i, ns: `nm${id}-n${i}`, ip: `${a}.0.${i + 1}`, podCgroupRoot: path.join(cg, 'pods'), agentCgroup: path.join(cg, 'agent'), pods };
  });
}

/** The node's address towards its pods (on every pod link). */
export function gateway(n: ClusterNode, subnet: number): string {
  return `10.${subnet}.${n.index + 1}.1`;
}

/** The fabric namespace: a bridge joining the nodes' links. */
export function fabricBatch(nodes: readonly ClusterNode[]): string[] {
  return ['link add br0 type bridge', 'link set br0 up', ...nodes.map((n) => `link set n${n.index} master br0 up`)];
}

/** A node namespace: its link to the fabric, routes to the other nodes' pods, a link per pod. */
export function nodeBatch(n: ClusterNode, nodes: readonly ClusterNode[], subnet: number, fabricNs: string): string[] {
  const gw = gateway(n, subnet);
  const lines = [
    'link set lo up',
    `addr add ${AGENT_SOURCE_IP}/32 dev lo`,
    // Explicit ifindexes: the kernel processes a link's carrier change at once only when the link's
    // ifindex differs from its peer's (numbering is per namespace, so by default they often match);
    // otherwise the change is batched for up to a second, dropping the first packets through the link.
    `link add fab index ${FAB_IFINDEX} type veth peer name n${n.index} netns ${fabricNs} index ${FABRIC_PORT_IFINDEX + n.index}`,
    `addr add ${n.ip}/24 dev fab`,
    'link set fab up',
    // onlink: the fabric end is not up yet, and the gateway is on the bridge segment by construction.
    ...nodes.filter((k) => k !== n).map((k) => `route add 10.${subnet}.${k.index + 1}.0/24 via ${k.ip} dev fab onlink`),
  ];
  n.pods.forEach((p, j) => {
    lines.push(
      `link add p${j} index ${POD_LINK_IFINDEX + j} type veth peer name eth0 netns ${p.ns} index ${POD_ETH0_IFINDEX}`,
      // Every pod link carries the gateway address; noprefixroute plus a /32 per pod keeps one /24 from
      // being routed to whichever pod link came first.
      `addr add ${gw}/24 dev p${j} noprefixroute`,
      `link set p${j} up`,
      `route add ${p.ip}/32 dev p${j} src ${gw}`,
    );
  });
  return lines;
}

/** A pod namespace: eth0 with the pod IP, the default route through its node. */
export function podBatch(p: Pod, gw: string): string[] {
  return [
    'link set lo up',
    // noprefixroute: a same-node pod is reached through the node too (no on-link /24), like a CNI does.
    `addr add ${p.ip}/24 dev eth0 noprefixroute`,
    'link set eth0 up',
    `route add ${gw}/32 dev eth0 scope link`,
    `route add default via ${gw} dev eth0`,
  ];
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const ch of s) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}
