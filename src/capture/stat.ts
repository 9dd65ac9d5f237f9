// `nodemesh stat`: the kernel's view from the pins alone (works while the agent is down). Services are
// named from the agent's names file (names.ts); a service the file does not know shows its id.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MeshError } from '../errors';
import { native } from './ffi';
import { bytesToIp, decodeConn, decodeStats, GLOBAL_COUNTERS, SIZES, u32 } from './layout';
import { readServiceNames, type ServiceName } from './names';

type Stats = ReturnType<typeof decodeStats>;

/** Fails with NO_PINS, before the native library is loaded, when BPFFS holds no nodemesh maps. */
export function requirePins(bpffs: string, exists: (p: string) => boolean = fs.existsSync): void {
  if (!exists(path.join(bpffs, 'nm_svc_stats'))) {
    throw new MeshError('NO_PINS', `none at ${bpffs}: is the agent running with capture (not --no-capture), with --bpffs ${bpffs}?`, { path: bpffs });
  }
}

export function readPinnedStats(bpffs: string): string {
  requirePins(bpffs);
  const lib = native();
  const stats = lib.objGet(path.join(bpffs, 'nm_svc_stats'));
  const global = lib.objGet(path.join(bpffs, 'nm_global'));
  try {
    const { keys, values, count } = lib.mapDump(stats, SIZES.u32, SIZES.stats, lib.mapInfo(stats).maxEntries); // sized by --max-services
    const rows: [number, Stats][] = [];
    for (let i = 0; i < count; i++) rows.push([keys.readUInt32LE(i * 4), decodeStats(values, i * SIZES.stats)]);
    const v = Buffer.alloc(8);
    const events: [string, bigint][] = [];
    GLOBAL_COUNTERS.forEach((name, i) => {
      if (lib.mapLookup(global, u32(i), v)) events.push([name, v.readBigUInt64LE(0)]);
    });
    return formatStats(rows, events, readServiceNames(bpffs));
  } finally {
    lib.closeFd(stats);
    lib.closeFd(global);
  }
}

/** The stat table: one line per service (namespace/name, else its id in hex), then the events. Pure. */
export function formatStats(rows: readonly [number, Stats][], events: readonly [string, bigint | number][], names: ReadonlyMap<number, ServiceName>): string {
  const label = (id: number): string => {
    const n = names.get(id);
    return n ? `${n.namespace}/${n.name}` : `id:${id.toString(16)}`;
  };
  const sorted = [...rows].sort(([a], [b]) => label(a).localeCompare(label(b)));
  const w = Math.max('service'.length, ...sorted.map(([id]) => label(id).length));
  const cols = ['opened', 'closed', 'active', 'sent-bytes', 'recv-bytes', 'redirected', 'spliced-bytes'];
  const body = sorted.map(([id, s]) => [label(id), ...[s.opened, s.closed, s.opened - s.closed, s.bytesSent, s.bytesReceived, s.redirected, s.splicedBytes].map(String)]);
  const widths = cols.map((c, i) => Math.max(c.length, ...body.map((r) => (r[i + 1] as string).length)));
  const line = (first: string, cells: readonly string[]): string => `${first.padEnd(w)}  ${cells.map((c, i) => c.padStart(widths[i] as number)).join('  ')}`;
  const lines = [line('service', cols), ...body.map(([first, ...cells]) => line(first as string, cells))];
  if (sorted.length === 0) lines.push('(no service has counters yet)');
  lines.push('', 'datapath events:', ...events.map(([name, n]) => `  ${name.padEnd(20)} ${n}`));
  return `${lines.join('\n')}\n`;
}

export interface PinnedView {
  origDst: { client: string; agent: string; orig: string; serviceId: number }[];
  sockhashEntries: number;
  counters: Map<number, ReturnType<typeof decodeStats>>;
  globals: Record<string, number>;
}

/** A structured read of the pins (tests assert on it; the agent itself uses BpfDatapath). */
export function inspectPins(bpffs: string): PinnedView {
  const lib = native();
  const open = (n: string): number => lib.objGet(path.join(bpffs, n));
  const fds = { orig: open('nm_orig_dst'), sock: open('nm_sockhash'), stats: open('nm_svc_stats'), global: open('nm_global') };
  try {
    const o = lib.mapDump(fds.orig, SIZES.tuple, SIZES.conn, 1 << 14);
    const origDst = [];
    for (let i = 0; i < o.count; i++) {
      const k = i * SIZES.tuple;
      const c = decodeConn(o.values, i * SIZES.conn);
      origDst.push({
        client: `${bytesToIp(o.keys, k)}:${o.keys.readUInt16LE(k + 8)}`,
        agent: `${bytesToIp(o.keys, k + 4)}:${o.keys.readUInt16LE(k + 10)}`,
        orig: `${c.orig.address}:${c.orig.port}`,
        serviceId: c.serviceId,
      });
    }
    const s = lib.mapDump(fds.stats, SIZES.u32, SIZES.stats, 1 << 14);
    const counters = new Map<number, ReturnType<typeof decodeStats>>();
    for (let i = 0; i < s.count; i++) counters.set(s.keys.readUInt32LE(i * 4), decodeStats(s.values, i * SIZES.stats));
    const globals: Record<string, number> = {};
    const v = Buffer.alloc(8);
    GLOBAL_COUNTERS.forEach((name, i) => (globals[name] = lib.mapLookup(fds.global, u32(i), v) ? Number(v.readBigUInt64LE(0)) : 0));
    return { origDst, sockhashEntries: lib.mapCount(fds.sock, SIZES.tuple), counters, globals };
  } finally {
    for (const fd of Object.values(fds)) lib.closeFd(fd);
  }
}
