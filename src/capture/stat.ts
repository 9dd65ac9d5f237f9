// `nodemesh stat`: the kernel's view from the pins alone (works while the agent is down).
import * as path from 'node:path';
import { native } from './ffi';
import { bytesToIp, decodeConn, decodeStats, GLOBAL_COUNTERS, SIZES, u32 } from './layout';

export function readPinnedStats(bpffs: string): string {
  const lib = native();
  const lines: string[] = [];
  const stats = lib.objGet(path.join(bpffs, 'nm_svc_stats'));
  const global = lib.objGet(path.join(bpffs, 'nm_global'));
  try {
    const { keys, values, count } = lib.mapDump(stats, SIZES.u32, SIZES.stats, 1 << 14);
    lines.push('service-id      opened  closed  active  sent-bytes  recv-bytes  redirected  spliced-bytes');
    for (let i = 0; i < count; i++) {
      const s = decodeStats(values, i * SIZES.stats);
      lines.push(
        [keys.readUInt32LE(i * 4).toString(16).padEnd(12), s.opened, s.closed, s.opened - s.closed, s.bytesSent, s.bytesReceived, s.redirected, s.splicedBytes]
          .map((v) => String(v).padStart(7))
          .join(' '),
      );
    }
    const v = Buffer.alloc(8);
    lines.push('', 'datapath events:');
    GLOBAL_COUNTERS.forEach((name, i) => {
      if (lib.mapLookup(global, u32(i), v)) lines.push(`  ${name.padEnd(20)} ${v.readBigUInt64LE(0)}`);
    });
  } finally {
    lib.closeFd(stats);
    lib.closeFd(global);
  }
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
