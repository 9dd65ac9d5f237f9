// The eBPF datapath: loads the three hook objects (maps pinned by name and shared between them),
// attaches them through pinned links (re-adopting links a previous agent left), and keeps the maps
// in step with the config. Closing releases our fds only: the kernel datapath stays up.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MeshConfig } from '../config/model';
import { MeshError } from '../errors';
import { logger } from '../log';
import { checkBpffs, checkCgroup2, checkPrivileges, ownCgroupId } from './env';
import { ATTACH, native, type NativeBpf } from './ffi';
import { configVal, decodeConn, decodeStats, GLOBAL_COUNTERS, inboundKey, ipToBytes, MTLS, SIZES, stripMapped, tuple, u32, u64, type GlobalCounter, type InboundMode } from './layout';
import { planMaps } from './plan';
import type { Addr, Datapath, KernelCounters, MapStat } from './types';

const log = logger('capture');

export const MAP_NAMES = [
  'nm_services', 'nm_backends', 'nm_config', 'nm_exempt', 'nm_cookie_dst', 'nm_orig_dst', 'nm_sockhash', 'nm_svc_stats', 'nm_global',
  'nm_inbound_mode', 'nm_trusted_src',
] as const;
type MapName = (typeof MAP_NAMES)[number];
const CGROUP_PROGS = [
  { object: 'connect4', program: 'nm_connect4', link: 'link_connect4', type: ATTACH.CGROUP_INET4_CONNECT },
  { object: 'sockops', program: 'nm_sockops', link: 'link_sockops', type: ATTACH.CGROUP_SOCK_OPS },
  { object: 'inbound', program: 'nm_inbound', link: 'link_inbound', type: ATTACH.CGROUP_INET_INGRESS },
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
}

export interface AttachReport {
  attached: string[];
  readopted: string[];
}

export class BpfDatapath implements Datapath {
  readonly mode = 'ebpf' as const;
  private readonly fds = new Map<MapName, number>();
  private readonly lib: NativeBpf;

  private constructor(
    private readonly opts: BpfOptions,
    readonly report: AttachReport,
  ) {
    this.lib = native();
    for (const name of MAP_NAMES) this.fds.set(name, this.lib.objGet(path.join(opts.bpffs, name)));
  }

  /** Preflight, load, attach (or re-adopt) and point the redirect at the agent. */
  static open(opts: BpfOptions): BpfDatapath {
    checkPrivileges();
    checkBpffs(opts.bpffs);
    checkCgroup2(opts.cgroup);
    for (const o of ['connect4', 'sockops', 'inbound', 'sk_msg']) {
      const f = path.join(opts.objects, `${o}.bpf.o`);
      if (!fs.existsSync(f)) throw new MeshError('BPF_OBJECT', `${f} is missing (run make)`);
    }
    fs.mkdirSync(opts.bpffs, { recursive: true });
    const report = attachAll(native(), opts);
    const dp = new BpfDatapath(opts, report);
    dp.configure();
    log.info({ ...report, cgroup: opts.cgroup, bpffs: opts.bpffs }, 'datapath attached');
    return dp;
  }

  private fd(name: MapName): number {
    const fd = this.fds.get(name);
    if (fd === undefined) throw new MeshError('BPF_MAP', `map ${name} is not open`);
    return fd;
  }

  private configure(): void {
    const rc = this.lib.mapUpdate(this.fd('nm_config'), u32(0), configVal(this.opts.agent.address, this.opts.agent.port));
    if (rc < 0) throw new MeshError('BPF_MAP', `writing the redirect target: errno ${-rc}`);
    const cg = ownCgroupId();
    if (cg === undefined) {
      log.warn('own cgroup id not found: the agent relies on running outside the capture cgroup');
      return;
    }
    const own = u64(cg);
    const rc2 = this.lib.mapUpdate(this.fd('nm_exempt'), own, Buffer.from([1]));
    if (rc2 < 0) throw new MeshError('BPF_MAP', `exempting the agent's cgroup: errno ${-rc2}`);
    // Earlier agents' cgroups (every restart gets a new one) would fill the map: only one agent runs.
    const { keys, count } = this.lib.mapDump(this.fd('nm_exempt'), 8, 1, 64);
    for (let i = 0; i < count; i++) {
      const k = keys.subarray(i * 8, i * 8 + 8);
      if (!k.equals(own)) this.lib.mapDelete(this.fd('nm_exempt'), k);
    }
  }

  sync(config: MeshConfig): void {
    const plan = planMaps(config);
    const put = (map: MapName, entries: Map<string, [Buffer, Buffer]>): void => {
      for (const [hex, [k, v]] of entries) {
        const rc = this.lib.mapUpdate(this.fd(map), k, v);
        if (rc < 0) throw new MeshError('BPF_MAP', `update ${map}[${hex}]: errno ${-rc}`);
      }
    };
    const prune = (map: MapName, keySize: number, valueSize: number, keep: (k: Buffer) => boolean): number => {
      const { keys, count } = this.lib.mapDump(this.fd(map), keySize, valueSize, 1 << 16);
      let removed = 0;
      for (let i = 0; i < count; i++) {
        const k = keys.subarray(i * keySize, (i + 1) * keySize);
        if (!keep(k) && this.lib.mapDelete(this.fd(map), k)) removed++;
      }
      return removed;
    };
    // Backends before services (a new service never points at missing backends), deletions last.
    put('nm_backends', plan.backends);
    put('nm_services', plan.services);
    for (const id of plan.serviceIds) this.lib.mapUpdate(this.fd('nm_svc_stats'), u32(id), Buffer.alloc(SIZES.stats), 1 /* BPF_NOEXIST */);
    const goneServices = prune('nm_services', SIZES.svcKey, SIZES.svcVal, (k) => plan.services.has(k.toString('hex')));
    const goneBackends = prune('nm_backends', SIZES.backendKey, SIZES.backendVal, (k) => plan.backends.has(k.toString('hex')));
    prune('nm_svc_stats', SIZES.u32, SIZES.stats, (k) => plan.serviceIds.has(k.readUInt32LE(0)));
    log.info({ services: plan.services.size, backends: plan.backends.size, goneServices, goneBackends }, 'kernel maps synced');
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
      const { keys, count } = this.lib.mapDump(this.fd(map), ks, 1, 1 << 16);
      for (let i = 0; i < count; i++) {
        const k = keys.subarray(i * ks, (i + 1) * ks);
        if (!entries.has(k.toString('hex'))) this.lib.mapDelete(this.fd(map), k);
      }
    }
  }

  originalDst(peer: Addr, local: Addr): Addr | undefined {
    const key = tuple({ address: stripMapped(peer.address), port: peer.port }, { address: stripMapped(local.address), port: local.port });
    const val = Buffer.alloc(SIZES.conn);
    if (!this.lib.mapLookup(this.fd('nm_orig_dst'), key, val)) return undefined;
    return decodeConn(val).orig;
  }

  counters(): KernelCounters[] {
    const { keys, values, count } = this.lib.mapDump(this.fd('nm_svc_stats'), SIZES.u32, SIZES.stats, 1 << 14);
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

function attachAll(lib: NativeBpf, opts: BpfOptions): AttachReport {
  const report: AttachReport = { attached: [], readopted: [] };
  const handles: number[] = [];
  try {
    // Load order matters only for the first start: connect4 creates the pinned maps, the rest reuse them.
    for (const p of CGROUP_PROGS) {
      const h = lib.objectLoad(path.join(opts.objects, `${p.object}.bpf.o`), opts.bpffs);
      handles.push(h);
      const how = lib.attachCgroup(lib.progFd(h, p.program), p.type, opts.cgroup, path.join(opts.bpffs, p.link));
      report[how].push(p.program);
    }
    const h = lib.objectLoad(path.join(opts.objects, 'sk_msg.bpf.o'), opts.bpffs);
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
