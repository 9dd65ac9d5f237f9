// The eBPF datapath: loads the three hook objects (maps pinned by name and shared between them),
// attaches them through pinned links (re-adopting links a previous agent left), and keeps the maps
// in step with the config and, in opt-in mode, with the set of meshed pod cgroups. Closing releases
// our fds only: the kernel datapath stays up.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MeshConfig } from '../config/model';
import { liveCgroupIds } from './cgroupids';
import { MeshError } from '../errors';
import { logger } from '../log';
import { checkBpffs, checkCgroup2, checkPrivileges, ownCgroupId } from './env';
import { ATTACH, native, type NativeBpf } from './ffi';
import {
  CONFIG_FLAGS, configFlags, configVal, decodeStats, GLOBAL_COUNTERS, inboundKey, ipToBytes, MTLS, SIZES, u32, u64, withConfigFlags,
  type GlobalCounter, type InboundMode,
} from './layout';
import { capacityOf, capacityProblem, CAPACITY_FLAGS, CAPACITY_MAPS, mapNeeds, mapSizes, resolveCapacity, sizesWithPins, type MapCapacity, type PinnedSize } from './capacity';
import { planSync, stateOf, type MapState, type SyncMap } from './diff';
import { applyOps, dumpAll, readState } from './mapsync';
import { planMaps, planMeshed } from './plan';
import type { Addr, Datapath, KernelCounters, MapStat } from './types';

const log = logger('capture');

export const MAP_NAMES = [
  'nm_services', 'nm_backends', 'nm_config', 'nm_exempt', 'nm_cookie_dst', 'nm_orig_dst', 'nm_sockhash', 'nm_svc_stats', 'nm_global',
  'nm_inbound_mode', 'nm_trusted_src', 'nm_meshed', 'nm_dns',
] as const;
type MapName = (typeof MAP_NAMES)[number];
const CGROUP_PROGS = [
  { object: 'connect4', program: 'nm_connect4', link: 'link_connect4', type: ATTACH.CGROUP_INET4_CONNECT },
  { object: 'sockops', program: 'nm_sockops', link: 'link_sockops', type: ATTACH.CGROUP_SOCK_OPS },
  { object: 'inbound', program: 'nm_inbound', link: 'link_inbound', type: ATTACH.CGROUP_INET_INGRESS },
  { object: 'dns', program: 'nm_sendmsg4', link: 'link_sendmsg4', type: ATTACH.CGROUP_UDP4_SENDMSG },
  { object: 'dns', program: 'nm_recvmsg4', link: 'link_recvmsg4', type: ATTACH.CGROUP_UDP4_RECVMSG },
] as const;

export interface BpfOptions {
  /** cgroup v2 directory the programs attach to (pods below it are captured). */
  cgroup: string;
  /** Pin directory on bpffs. */
  bpffs: string;
  /** Directory holding connect4.bpf.o, sockops.bpf.o, sk_msg.bpf.o. */
  objects: string;
  /** Where captured connections are sent (the outbound listener as pods reach it). */
  agent: Addr;
  /** Map sizes for maps this start creates (defaults: maps.h); pinned maps keep theirs. */
  capacity?: Partial<MapCapacity>;
}

export interface AttachReport {
  attached: string[];
  readopted: string[];
  /** Pinned maps re-adopted with another size than asked for (the new size applies after uninstall). */
  kept: PinnedSize[];
}

export class BpfDatapath implements Datapath {
  readonly mode = 'ebpf' as const;
  private readonly fds = new Map<MapName, number>();
  private readonly lib: NativeBpf;
  /** What the maps were created with (max_entries read back): the limit every sync is checked against. */
  readonly capacity: MapCapacity;

  private constructor(
    private readonly opts: BpfOptions,
    readonly report: AttachReport,
  ) {
    this.lib = native();
    for (const name of MAP_NAMES) this.fds.set(name, this.lib.objGet(path.join(opts.bpffs, name)));
    this.capacity = capacityOf((name) => {
      const fd = this.fds.get(name as MapName);
      return fd === undefined ? undefined : this.lib.mapInfo(fd).maxEntries;
    });
  }

  /** Preflight, load, attach (or re-adopt) and point the redirect at the agent. */
  static open(opts: BpfOptions): BpfDatapath {
    checkPrivileges();
    checkBpffs(opts.bpffs);
    checkCgroup2(opts.cgroup);
    for (const o of ['connect4', 'sockops', 'inbound', 'dns', 'sk_msg']) {
      const f = path.join(opts.objects, `${o}.bpf.o`);
      if (!fs.existsSync(f)) throw new MeshError('BPF_OBJECT', `${f} is missing (run make)`);
    }
    const requested = mapSizes(resolveCapacity(opts.capacity));
    fs.mkdirSync(opts.bpffs, { recursive: true });
    const lib = native();
    const { sizes, kept } = sizesWithPins(requested, (name) => pinnedMaxEntries(lib, path.join(opts.bpffs, name)));
    const report = { ...attachAll(lib, opts, sizes), kept };
    const dp = new BpfDatapath(opts, report);
    dp.configure();
    if (kept.length > 0) {
      log.warn({ kept, bpffs: opts.bpffs }, "pinned maps kept with their size (their state survives the restart): a new size applies after 'nodemesh uninstall'");
    }
    log.info({ ...report, capacity: dp.capacity, cgroup: opts.cgroup, bpffs: opts.bpffs }, 'datapath attached');
    return dp;
  }

  /** Where meshed pods' DNS over UDP port 53 goes (the agent's DNS proxy); undefined = nowhere. */
  setDnsRedirect(to: Addr | undefined): void {
    const v = Buffer.alloc(8);
    if (to !== undefined) {
      ipToBytes(to.address, v, 0);
      v.writeUInt16LE(to.port, 4);
    }
    const rc = this.lib.mapUpdate(this.fd('nm_dns'), u32(0), v);
    if (rc < 0) throw new MeshError('BPF_MAP', `writing the DNS redirect: errno ${-rc}`);
  }

  private fd(name: MapName): number {
    const fd = this.fds.get(name);
    if (fd === undefined) throw new MeshError('BPF_MAP', `map ${name} is not open`);
    return fd;
  }

  private configure(): void {
    // The opt-in flag is kept: a restarted agent must not capture every pod until its first syncMeshed.
    const old = Buffer.alloc(SIZES.config);
    const flags = this.lib.mapLookup(this.fd('nm_config'), u32(0), old) ? configFlags(old) : 0;
    const rc = this.lib.mapUpdate(this.fd('nm_config'), u32(0), configVal(this.opts.agent.address, this.opts.agent.port, flags));
    if (rc < 0) throw new MeshError('BPF_MAP', `writing the redirect target: errno ${-rc}`);
    const cg = ownCgroupId();
    if (cg === undefined) {
      log.warn('own cgroup id not found: the agent relies on running outside the capture cgroup');
      return;
    }
    const own = u64(cg);
    const rc2 = this.lib.mapUpdate(this.fd('nm_exempt'), own, Buffer.from([1]));
    if (rc2 < 0) throw new MeshError('BPF_MAP', `exempting the agent's cgroup: errno ${-rc2}`);
    // Earlier agents' cgroups (every restart gets a new one) would fill the map; an agent that still
    // drains beside this one keeps its entry (its upstream connects must not be captured).
    const { keys, count } = this.lib.mapDump(this.fd('nm_exempt'), 8, 1, 64);
    const others = Array.from({ length: count }, (_, i) => keys.readBigUInt64LE(i * 8)).filter((id) => id !== cg);
    const live = others.length > 0 ? liveCgroupIds(others) : new Set<bigint>();
    for (const id of others) if (!live.has(id)) this.lib.mapDelete(this.fd('nm_exempt'), u64(id));
  }

  /**
   * What nm_services / nm_backends / nm_svc_stats hold, as this agent last wrote them. Undefined until
   * the first sync, which reads the maps as a previous agent left them; later syncs write only the
   * difference (a cluster has 10^4 services, and one endpoint change must not rewrite them all).
   */
  private written: MapState | undefined;

  /**
   * The maps made equal to the config's plan in place, by difference (capture/diff.ts orders the
   * writes). A config that needs more entries than the maps hold is refused before any write.
   */
  sync(config: MeshConfig, opts: { readonly prune?: boolean } = {}): void {
    const plan = planMaps(config);
    const sized = new Set([...CAPACITY_MAPS.services, ...CAPACITY_MAPS.backends]);
    const kept = this.report.kept.some((k) => sized.has(k.map)) ? " (the maps' pinned size; a new one applies after 'nodemesh uninstall')" : '';
    const problem = capacityProblem(mapNeeds(plan), this.capacity, kept);
    if (problem) throw new MeshError('MAP_CAPACITY', problem, { needs: mapNeeds(plan), capacity: this.capacity });
    const prune = opts.prune !== false;
    const fd = (m: SyncMap): number => this.fd(m);
    const current = this.written ?? readState(this.lib, fd);
    const diff = planSync(current, plan, { prune, backendCapacity: this.capacity.backends });
    if (!prune && (diff.peak.services > this.capacity.services || diff.peak.backends > this.capacity.backends)) {
      // A partial view keeps what a predecessor wrote: both sets must fit together.
      throw new MeshError(
        'MAP_CAPACITY',
        `the partial view (before discovery's first list) adds to what the maps hold: ${diff.peak.services} nm_services / ${diff.peak.backends} nm_backends entries needed, ` +
          `capacity ${this.capacity.services} (${CAPACITY_FLAGS.services}) / ${this.capacity.backends} (${CAPACITY_FLAGS.backends})`,
      );
    }
    // Until this sync completes, what the maps hold is unknown: a failure midway makes the next sync
    // (the restore of the last good config) read them back in full.
    this.written = undefined;
    applyOps(this.lib, fd, diff.ops);
    if (!prune) {
      // Nothing removed: what the maps hold beyond this plan is unknown, so the next sync reads them back.
      log.info({ services: plan.services.size, backends: plan.backends.size, changes: diff.changes }, 'kernel maps synced (partial view: nothing removed)');
      return;
    }
    this.written = stateOf(plan);
    const { services, backends } = diff.changes;
    if (diff.released > 0) log.info({ released: diff.released }, 'VIPs taken over by another service counted no backends during the sync (nm_backends could not hold both sets)');
    log.info({ services: plan.services.size, backends: plan.backends.size, changes: { services, backends }, ops: diff.ops.length }, 'kernel maps synced');
  }

  /**
   * Inbound mTLS modes of local workloads ({ip, port 0 = whole workload}) and the trusted delivery
   * sources, replaced as a whole (stale keys deleted after the new ones are in).
   */
  syncInbound(modes: readonly InboundMode[], trusted: readonly string[]): void {
    const want = new Map<string, [Buffer, Buffer]>();
    for (const m of modes) {
      const k = inboundKey(m.ip, m.port);
      want.set(k.toString('hex'), [k, Buffer.from([MTLS[m.mode]])]);
    }
    const trust = new Map<string, [Buffer, Buffer]>();
    for (const ip of trusted) {
      const k = Buffer.alloc(4);
      ipToBytes(ip, k, 0);
      trust.set(k.toString('hex'), [k, Buffer.from([1])]);
    }
    for (const [map, entries, ks] of [['nm_inbound_mode', want, SIZES.inboundKey], ['nm_trusted_src', trust, SIZES.u32]] as const) {
      for (const [hex, [k, v]] of entries) {
        const rc = this.lib.mapUpdate(this.fd(map), k, v);
        if (rc < 0) throw new MeshError('BPF_MAP', `update ${map}[${hex}]: errno ${-rc}`);
      }
      const { keys, count } = dumpAll(this.lib, this.fd(map), ks, 1);
      for (let i = 0; i < count; i++) {
        const k = keys.subarray(i * ks, (i + 1) * ks);
        if (!entries.has(k.toString('hex'))) this.lib.mapDelete(this.fd(map), k);
      }
    }
  }

  syncMeshed(cgroupIds: readonly bigint[] | undefined): void {
    applyMeshed(this.lib, this.fd('nm_meshed'), this.fd('nm_config'), cgroupIds);
  }

  counters(): KernelCounters[] {
    const { keys, values, count } = dumpAll(this.lib, this.fd('nm_svc_stats'), SIZES.u32, SIZES.stats);
    const out: KernelCounters[] = [];
    for (let i = 0; i < count; i++) out.push({ serviceId: keys.readUInt32LE(i * 4), ...decodeStats(values, i * SIZES.stats) });
    return out;
  }

  globals(): Record<GlobalCounter, number> {
    const out = {} as Record<GlobalCounter, number>;
    const v = Buffer.alloc(8);
    GLOBAL_COUNTERS.forEach((name, i) => {
      out[name] = this.lib.mapLookup(this.fd('nm_global'), u32(i), v) ? Number(v.readBigUInt64LE(0)) : 0;
    });
    return out;
  }

  maps(): MapStat[] {
    return MAP_NAMES.map((name) => {
      const fd = this.fd(name);
      const info = this.lib.mapInfo(fd);
      const arrays = info.type === 2; // BPF_MAP_TYPE_ARRAY: always full
      return { name, entries: arrays ? info.maxEntries : this.lib.mapCount(fd, info.keySize), maxEntries: info.maxEntries };
    });
  }

  attached(): boolean {
    return CGROUP_PROGS.every((p) => fs.existsSync(path.join(this.opts.bpffs, p.link)));
  }

  close(): void {
    for (const fd of this.fds.values()) this.lib.closeFd(fd);
    this.fds.clear();
  }
}

/**
 * nm_meshed and the opt-in flag. Off: the flag goes first (every pod is captured again), then the set is
 * emptied. On: gone ids are deleted, new ones added, and only then the flag is set, so a pod that is in
 * the list is never left out, not even when opt-in is being switched on.
 */
function applyMeshed(lib: NativeBpf, meshedFd: number, configFd: number, ids: readonly bigint[] | undefined): void {
  const capacity = lib.mapInfo(meshedFd).maxEntries;
  const { keys, count } = lib.mapDump(meshedFd, SIZES.u64, 1, capacity);
  const current = Array.from({ length: count }, (_, i) => keys.readBigUInt64LE(i * SIZES.u64));
  const setOptIn = (on: boolean): boolean => {
    const v = Buffer.alloc(SIZES.config);
    if (!lib.mapLookup(configFd, u32(0), v)) throw new MeshError('BPF_MAP', 'reading nm_config failed');
    const flags = on ? configFlags(v) | CONFIG_FLAGS.optIn : configFlags(v) & ~CONFIG_FLAGS.optIn;
    if (flags === configFlags(v)) return false;
    const rc = lib.mapUpdate(configFd, u32(0), withConfigFlags(v, flags));
    if (rc < 0) throw new MeshError('BPF_MAP', `writing the opt-in flag: errno ${-rc}`);
    return true;
  };
  if (ids === undefined) {
    const switched = setOptIn(false);
    for (const id of current) lib.mapDelete(meshedFd, u64(id));
    if (switched || count > 0) log.info({ optIn: false, removed: count }, 'opt-in capture off: every pod below the attach cgroup is in the mesh');
    return;
  }
  const plan = planMeshed(current, ids);
  const size = count + plan.add.length - plan.remove.length;
  if (size > capacity) throw new MeshError('MAP_CAPACITY', `${size} meshed pod cgroups exceed nm_meshed's capacity of ${capacity}: raise ${CAPACITY_FLAGS.meshedPods}`);
  // Deletions first: they free room for the additions and never affect a pod that stays.
  for (const id of plan.remove) lib.mapDelete(meshedFd, u64(id));
  for (const id of plan.add) {
    const rc = lib.mapUpdate(meshedFd, u64(id), Buffer.from([1]));
    if (rc < 0) throw new MeshError('BPF_MAP', `adding cgroup ${id} to nm_meshed: errno ${-rc}`);
  }
  const switched = setOptIn(true);
  if (switched || plan.add.length > 0 || plan.remove.length > 0) {
    log.info({ optIn: true, meshed: size, added: plan.add.length, removed: plan.remove.length }, 'meshed pod cgroups synced');
  }
}

/** Opens the two pins applyMeshed needs, for a process that is not the agent (tests, tools). */
function withMeshedPins<T>(bpffs: string, fn: (lib: NativeBpf, meshedFd: number, configFd: number) => T): T {
  const lib = native();
  const meshed = lib.objGet(path.join(bpffs, 'nm_meshed'));
  try {
    const config = lib.objGet(path.join(bpffs, 'nm_config'));
    try {
      return fn(lib, meshed, config);
    } finally {
      lib.closeFd(config);
    }
  } finally {
    lib.closeFd(meshed);
  }
}

/**
 * Datapath.syncMeshed on the pins alone, from another process (tests, tools), beside an agent that does
 * not manage opt-in itself (no Kubernetes discovery): the agent leaves both pins as they are.
 */
export function syncMeshedPins(bpffs: string, cgroupIds: readonly bigint[] | undefined): void {
  withMeshedPins(bpffs, (lib, meshed, config) => applyMeshed(lib, meshed, config, cgroupIds));
}

/** What opt-in looks like in the kernel: the flag and the meshed cgroup ids. */
export function readMeshedPins(bpffs: string): { optIn: boolean; ids: bigint[] } {
  return withMeshedPins(bpffs, (lib, meshed, config) => {
    const v = Buffer.alloc(SIZES.config);
    const optIn = lib.mapLookup(config, u32(0), v) && (configFlags(v) & CONFIG_FLAGS.optIn) !== 0;
    const { keys, count } = dumpAll(lib, meshed, SIZES.u64, 1);
    return { optIn, ids: Array.from({ length: count }, (_, i) => keys.readBigUInt64LE(i * SIZES.u64)) };
  });
}

/** max_entries of the map pinned at PIN, or undefined when there is none. */
function pinnedMaxEntries(lib: NativeBpf, pin: string): number | undefined {
  if (!fs.existsSync(pin)) return undefined;
  const fd = lib.objGet(pin);
  try {
    return lib.mapInfo(fd).maxEntries;
  } finally {
    lib.closeFd(fd);
  }
}

/** Every object is loaded with the same map sizes: libbpf reuses a pin only when max_entries matches. */
function attachAll(lib: NativeBpf, opts: BpfOptions, sizes: ReadonlyMap<string, number>): Omit<AttachReport, 'kept'> {
  const report: Omit<AttachReport, 'kept'> = { attached: [], readopted: [] };
  const handles: number[] = [];
  try {
    // Load order matters only for the first start: connect4 creates the pinned maps, the rest reuse them.
    for (const p of CGROUP_PROGS) {
      const h = lib.objectLoad(path.join(opts.objects, `${p.object}.bpf.o`), opts.bpffs, sizes);
      handles.push(h);
      const how = lib.attachCgroup(lib.progFd(h, p.program), p.type, opts.cgroup, path.join(opts.bpffs, p.link));
      report[how].push(p.program);
    }
    const h = lib.objectLoad(path.join(opts.objects, 'sk_msg.bpf.o'), opts.bpffs, sizes);
    handles.push(h);
    const sockhash = lib.objGet(path.join(opts.bpffs, 'nm_sockhash'));
    try {
      lib.attachSkMsg(lib.progFd(h, 'nm_sk_msg'), sockhash);
    } finally {
      lib.closeFd(sockhash);
    }
    report.attached.push('nm_sk_msg');
  } finally {
    // Links and the sockhash hold the programs now; the objects' own fds are no longer needed.
    for (const h of handles) lib.objectClose(h);
  }
  return report;
}

/** Detaches every link and removes every pin. Safe to run twice. */
export function uninstall(bpffs: string, cgroup?: string): { detached: string[]; removed: string[]; remaining: number } {
  const lib = native();
  const detached: string[] = [];
  const removed: string[] = [];
  for (const p of CGROUP_PROGS) if (lib.detachLink(path.join(bpffs, p.link))) detached.push(p.program);
  if (fs.existsSync(bpffs)) {
    for (const f of fs.readdirSync(bpffs)) {
      fs.rmSync(path.join(bpffs, f), { force: true });
      removed.push(f);
    }
    fs.rmdirSync(bpffs);
  }
  const remaining = cgroup ? CGROUP_PROGS.reduce((n, p) => n + Math.max(0, lib.cgroupProgCount(cgroup, p.type)), 0) : 0;
  return { detached, removed, remaining };
}

/** Programs attached to a cgroup, per hook (tests, `nodemesh stat`). */
export function cgroupAttachments(cgroup: string): { connect4: number; sockops: number; inbound: number } {
  const lib = native();
  return {
    connect4: lib.cgroupProgCount(cgroup, ATTACH.CGROUP_INET4_CONNECT),
    sockops: lib.cgroupProgCount(cgroup, ATTACH.CGROUP_SOCK_OPS),
    inbound: lib.cgroupProgCount(cgroup, ATTACH.CGROUP_INET_INGRESS),
  };
}
