// The only module that talks to native code: declarations of native/nmbpf.h over ffi-napi, wrapped
// so that every call returns a number or throws a MeshError with the shim's message.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MeshError, type ErrorName } from '../errors';

export interface NativeBpf {
  /** Opens and loads an object; SIZES sets max_entries of the object's maps by name (absent ones are skipped). */
  objectLoad(objPath: string, pinDir: string, sizes?: ReadonlyMap<string, number>): number;
  progFd(handle: number, name: string): number;
  objectClose(handle: number): void;
  attachCgroup(progFd: number, attachType: number, cgroupPath: string, linkPin: string): 'attached' | 'readopted';
  attachSkMsg(progFd: number, mapFd: number): void;
  detachLink(linkPin: string): boolean;
  cgroupProgCount(cgroupPath: string, attachType: number): number;
  objGet(pinPath: string): number;
  closeFd(fd: number): void;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags?: number): number;
  mapLookup(fd: number, key: Buffer, value: Buffer): boolean;
  mapDelete(fd: number, key: Buffer): boolean;
  mapDump(fd: number, keySize: number, valueSize: number, max: number): { keys: Buffer; values: Buffer; count: number };
  mapInfo(fd: number): { type: number; keySize: number; valueSize: number; maxEntries: number };
  mapCount(fd: number, keySize: number): number;
}

/** Kernel attach types (enum bpf_attach_type) used for queries. */
export const ATTACH = { CGROUP_INET_INGRESS: 0, CGROUP_INET4_CONNECT: 10, CGROUP_SOCK_OPS: 3, CGROUP_UDP4_SENDMSG: 14, CGROUP_UDP4_RECVMSG: 19 } as const;

const ERRNO: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 7: 'E2BIG', 9: 'EBADF', 13: 'EACCES', 17: 'EEXIST', 22: 'EINVAL', 28: 'ENOSPC' };
const errnoName = (rc: number): string => ERRNO[-rc] ?? `errno ${-rc}`;

function shimPath(): string {
  const candidates = [
    process.env.NODEMESH_NATIVE,
    path.resolve(__dirname, '../../../build/native/libnmbpf.so'), // dist/src/capture → repo
    path.resolve(__dirname, '../../build/native/libnmbpf.so'),
    '/usr/lib/nodemesh/libnmbpf.so',
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new MeshError('NATIVE', `libnmbpf.so not found (looked in ${candidates.join(', ')})`);
  return found;
}

let cached: NativeBpf | undefined;

export function native(): NativeBpf {
  if (cached) return cached;
  // Loaded lazily: --no-capture and `nodemesh check` must work without libbpf or ffi-napi.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ffi = require('ffi-napi') as typeof import('ffi-napi');
  const lib = ffi.Library(shimPath(), {
    nm_object_open: ['int', ['string', 'string', 'pointer', 'int']],
    nm_object_set_max_entries: ['int', ['int', 'string', 'uint']],
    nm_object_load_opened: ['int', ['int', 'pointer', 'int']],
    nm_object_prog_fd: ['int', ['int', 'string']],
    nm_object_close: ['void', ['int']],
    nm_attach_cgroup: ['int', ['int', 'int', 'string', 'string', 'pointer', 'int']],
    nm_attach_sk_msg: ['int', ['int', 'int', 'pointer', 'int']],
    nm_detach_link: ['int', ['string']],
    nm_cgroup_prog_count: ['int', ['string', 'int']],
    nm_obj_get: ['int', ['string']],
    nm_close_fd: ['int', ['int']],
    nm_map_update: ['int', ['int', 'pointer', 'pointer', 'ulonglong']],
    nm_map_lookup: ['int', ['int', 'pointer', 'pointer']],
    nm_map_delete: ['int', ['int', 'pointer']],
    nm_map_dump: ['int', ['int', 'int', 'int', 'pointer', 'pointer', 'int']],
    nm_map_info: ['int', ['int', 'pointer']],
    nm_map_count: ['int', ['int', 'int']],
  });
  const call = (name: string, ...args: unknown[]): number => (lib[name] as (...a: unknown[]) => number)(...args);
  const withErr = (what: ErrorName, name: string, ...args: unknown[]): number => {
    const err = Buffer.alloc(512);
    const rc = call(name, ...args, err, err.length);
    if (rc < 0) {
      const msg = err.toString('utf8', 0, Math.max(0, err.indexOf(0))) || errnoName(rc);
      throw new MeshError(what, msg, { errno: -rc });
    }
    return rc;
  };
  const check = (what: string, rc: number): number => {
    if (rc < 0) throw new MeshError('BPF_MAP', `${what}: ${errnoName(rc)}`, { errno: -rc });
    return rc;
  };

  cached = {
    objectLoad: (obj, pinDir, sizes) => {
      const h = withErr('BPF_OBJECT', 'nm_object_open', obj, pinDir);
      try {
        for (const [map, n] of sizes ?? []) {
          const rc = call('nm_object_set_max_entries', h, map, n);
          if (rc < 0 && rc !== -2) throw new MeshError('BPF_OBJECT', `${obj}: max_entries of ${map} = ${n}: ${errnoName(rc)}`, { errno: -rc });
        }
      } catch (e) {
        call('nm_object_close', h);
        throw e;
      }
      withErr('BPF_OBJECT', 'nm_object_load_opened', h);
      return h;
    },
    progFd: (h, name) => check(`program ${name}`, call('nm_object_prog_fd', h, name)),
    objectClose: (h) => void call('nm_object_close', h),
    attachCgroup: (fd, type, cg, pin) => (withErr('BPF_ATTACH', 'nm_attach_cgroup', fd, type, cg, pin) === 1 ? 'readopted' : 'attached'),
    attachSkMsg: (fd, mapFd) => void withErr('BPF_ATTACH', 'nm_attach_sk_msg', fd, mapFd),
    detachLink: (pin) => {
      const rc = call('nm_detach_link', pin);
      if (rc === -2) return false;
      check(`detach ${pin}`, rc);
      return true;
    },
    cgroupProgCount: (cg, type) => check(`query ${cg}`, call('nm_cgroup_prog_count', cg, type)),
    objGet: (p) => check(`open pin ${p}`, call('nm_obj_get', p)),
    closeFd: (fd) => void call('nm_close_fd', fd),
    mapUpdate: (fd, k, v, flags = 0) => call('nm_map_update', fd, k, v, flags),
    mapLookup: (fd, k, v) => call('nm_map_lookup', fd, k, v) === 0,
    mapDelete: (fd, k) => call('nm_map_delete', fd, k) === 0,
    mapDump: (fd, ks, vs, max) => {
      const keys = Buffer.alloc(ks * max);
      const values = Buffer.alloc(vs * max);
      const count = check('map dump', call('nm_map_dump', fd, ks, vs, keys, values, max));
      return { keys, values, count };
    },
    mapCount: (fd, ks) => check('map count', call('nm_map_count', fd, ks)),
    mapInfo: (fd) => {
      const info = Buffer.alloc(16);
      check('map info', call('nm_map_info', fd, info));
      return { type: info.readUInt32LE(0), keySize: info.readUInt32LE(4), valueSize: info.readUInt32LE(8), maxEntries: info.readUInt32LE(12) };
    },
  };
  return cached;
}

let trim: (() => number) | null | undefined;

/**
 * glibc's malloc_trim(0): hands the allocator's free pages back to the system (after a big config, they
 * stay resident otherwise). Undefined when it cannot be called (no ffi-napi, not glibc).
 */
export function mallocTrim(): boolean | undefined {
  if (trim === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const ffi = require('ffi-napi') as typeof import('ffi-napi');
      const libc = ffi.Library('libc.so.6', { malloc_trim: ['int', ['size_t']] });
      trim = () => (libc['malloc_trim'] as (pad: number) => number)(0);
    } catch {
      trim = null;
    }
  }
  return trim === null ? undefined : trim() === 1;
}
