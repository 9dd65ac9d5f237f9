// Byte layouts of the kernel maps, mirroring bpf/include/maps.h. Pure encode/decode, unit-tested.
// IPv4 addresses are stored in network order (the octets as written); ports and ids in host order,
// which is little-endian on every platform nodemesh builds for (x86_64, arm64).
import type { Addr } from './types';

export const MODE = { proxy: 0, kernel: 1 } as const;

export const SIZES = {
  svcKey: 8,
  svcVal: 12,
  backendKey: 8,
  backendVal: 8,
  tuple: 12,
  conn: 16,
  config: 8,
  stats: 48,
  inboundKey: 8,
  u32: 4,
  u64: 8,
} as const;

export function ipToBytes(ip: string, buf: Buffer, off: number): void {
  const parts = stripMapped(ip).split('.');
  if (parts.length !== 4) throw new RangeError(`not an IPv4 address: ${ip}`);
  for (let i = 0; i < 4; i++) {
    const n = Number(parts[i]);
    if (!Number.isInteger(n) || n < 0 || n > 255) throw new RangeError(`not an IPv4 address: ${ip}`);
    buf[off + i] = n;
  }
}

export const bytesToIp = (buf: Buffer, off: number): string => `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;

/** Node reports IPv4 peers of dual-stack sockets as ::ffff:a.b.c.d. */
export const stripMapped = (ip: string): string => (ip.startsWith('::ffff:') ? ip.slice(7) : ip);

export function svcKey(vip: string, port: number): Buffer {
  const b = Buffer.alloc(SIZES.svcKey);
  ipToBytes(vip, b, 0);
  b.writeUInt16LE(port, 4);
  return b;
}

export interface SvcVal {
  serviceId: number;
  mode: number;
  backendCount: number;
}

export function svcVal(v: SvcVal): Buffer {
  const b = Buffer.alloc(SIZES.svcVal);
  b.writeUInt32LE(v.serviceId >>> 0, 0);
  b.writeUInt8(v.mode, 4);
  b.writeUInt16LE(v.backendCount, 6);
  return b;
}

/** The value without the round-robin cursor (bytes 8..11, the kernel's own): what userspace decides. */
export const svcValDecided = (hex: string): string => hex.slice(0, 16);

export function decodeSvcVal(b: Buffer): SvcVal {
  return { serviceId: b.readUInt32LE(0), mode: b.readUInt8(4), backendCount: b.readUInt16LE(6) };
}

export const svcKeyPort = (b: Buffer): number => b.readUInt16LE(4);

export function backendKey(serviceId: number, port: number, index: number): Buffer {
  const b = Buffer.alloc(SIZES.backendKey);
  b.writeUInt32LE(serviceId >>> 0, 0);
  b.writeUInt16LE(port, 4);
  b.writeUInt16LE(index, 6);
  return b;
}

export function backendVal(a: Addr): Buffer {
  const b = Buffer.alloc(SIZES.backendVal);
  ipToBytes(a.address, b, 0);
  b.writeUInt16LE(a.port, 4);
  return b;
}

/** A socket's 4-tuple seen from that socket: source = its local end. */
export function tuple(src: Addr, dst: Addr): Buffer {
  const b = Buffer.alloc(SIZES.tuple);
  ipToBytes(src.address, b, 0);
  ipToBytes(dst.address, b, 4);
  b.writeUInt16LE(src.port, 8);
  b.writeUInt16LE(dst.port, 10);
  return b;
}

export interface Conn {
  orig: Addr;
  mode: number;
  serviceId: number;
}

export function decodeConn(b: Buffer, off = 0): Conn {
  return {
    orig: { address: bytesToIp(b, off), port: b.readUInt16LE(off + 4) },
    mode: b.readUInt8(off + 6),
    serviceId: b.readUInt32LE(off + 8),
  };
}

/** nm_config.flags (NM_CFG_* in maps.h). */
export const CONFIG_FLAGS = { optIn: 0x1 } as const;

export function configVal(agentIp: string, agentPort: number, flags = 0): Buffer {
  const b = Buffer.alloc(SIZES.config);
  ipToBytes(agentIp, b, 0);
  b.writeUInt16LE(agentPort, 4);
  b.writeUInt16LE(flags, 6);
  return b;
}

export const configFlags = (b: Buffer): number => b.readUInt16LE(6);

/** The same value with flags replaced (the redirect target kept). */
export function withConfigFlags(b: Buffer, flags: number): Buffer {
  const out = Buffer.from(b);
  out.writeUInt16LE(flags, 6);
  return out;
}

export const STAT_FIELDS = ['opened', 'closed', 'bytesSent', 'bytesReceived', 'redirected', 'splicedBytes'] as const;
export type StatField = (typeof STAT_FIELDS)[number];

export function decodeStats(b: Buffer, off = 0): Record<StatField, number> {
  const out = {} as Record<StatField, number>;
  STAT_FIELDS.forEach((f, i) => (out[f] = Number(b.readBigUInt64LE(off + i * 8))));
  return out;
}

export const GLOBAL_COUNTERS = [
  'connect_seen',
  'connect_proxy',
  'connect_kernel',
  'connect_exempt',
  'kernel_no_backend',
  'sockhash_active',
  'sockhash_passive',
  'sockhash_fail',
  'msg_redirect',
  'msg_pass',
  'strict_drop',
  'connect_not_meshed',
  'strict_not_meshed',
  'connect_fallback',
  'dns_redirect',
  'dns_reply',
] as const;
export type GlobalCounter = (typeof GLOBAL_COUNTERS)[number];

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

export function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n, 0);
  return b;
}

export const MTLS = { PERMISSIVE: 0, STRICT: 1, DISABLE: 2 } as const;
export type MtlsMode = keyof typeof MTLS;

export interface InboundMode {
  ip: string;
  /** 0 = every port of the workload. */
  port: number;
  mode: MtlsMode;
}

export function inboundKey(ip: string, port: number): Buffer {
  const b = Buffer.alloc(SIZES.inboundKey);
  ipToBytes(ip, b, 0);
  b.writeUInt16LE(port, 4);
  return b;
}
