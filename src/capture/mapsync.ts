// Doing what capture/diff.ts decides: reading what the service maps hold and applying a sync plan's
// writes in order. The first failure stops the sync (the caller then restores the last good config).
import { MeshError } from '../errors';
import type { MapOp, MapState, SyncMap } from './diff';
import type { NativeBpf } from './ffi';
import { SIZES } from './layout';

/** Every entry of a map: counted first, so the buffers fit what is there, not the capacity. */
export function dumpAll(lib: NativeBpf, fd: number, keySize: number, valueSize: number): { keys: Buffer; values: Buffer; count: number } {
  // Slack for entries the kernel adds between the count and the dump (stats are created by sockops).
  return lib.mapDump(fd, keySize, valueSize, lib.mapCount(fd, keySize) + 256);
}

/** What nm_services, nm_backends and nm_svc_stats hold now. */
export function readState(lib: NativeBpf, fd: (m: SyncMap) => number): MapState {
  const read = (map: SyncMap, ks: number, vs: number): Map<string, string> => {
    const { keys, values, count } = dumpAll(lib, fd(map), ks, vs);
    const out = new Map<string, string>();
    for (let i = 0; i < count; i++) out.set(keys.toString('hex', i * ks, (i + 1) * ks), values.toString('hex', i * vs, (i + 1) * vs));
    return out;
  };
  const ids = new Set([...read('nm_svc_stats', SIZES.u32, SIZES.stats).keys()].map((k) => Buffer.from(k, 'hex').readUInt32LE(0)));
  return { services: read('nm_services', SIZES.svcKey, SIZES.svcVal), backends: read('nm_backends', SIZES.backendKey, SIZES.backendVal), ids };
}

/**
 * Applies the writes in order. Deleting an entry that is already gone is fine (another writer, or a
 * sync that failed midway); a failed stats write is too (connect4 creates stats entries on demand).
 */
export function applyOps(lib: NativeBpf, fd: (m: SyncMap) => number, ops: readonly MapOp[]): void {
  for (const op of ops) {
    const key = Buffer.from(op.key, 'hex');
    if (op.op === 'delete') {
      lib.mapDelete(fd(op.map), key);
      continue;
    }
    const rc = lib.mapUpdate(fd(op.map), key, Buffer.from(op.value, 'hex'), op.noExist ? 1 /* BPF_NOEXIST */ : 0);
    if (rc < 0 && op.map !== 'nm_svc_stats') {
      throw new MeshError('BPF_MAP', `update ${op.map}[${op.key}]: ${rc === -7 ? 'E2BIG (map full)' : `errno ${-rc}`}`, { errno: -rc });
    }
  }
}
