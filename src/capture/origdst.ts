// A proxy worker's read-only view of nm_orig_dst: the destination a captured client asked for, by the
// accepted socket's 4-tuple. The main thread loads and owns the datapath; a worker only opens the pin.
// Order matters: ffi-napi must be loaded by the main thread before a worker loads it (BpfDatapath.open
// does, before any worker starts); a worker that loads it first crashes the process when it exits.
import * as path from 'node:path';
import { native } from './ffi';
import { decodeConn, SIZES, stripMapped, tuple } from './layout';
import type { Addr } from './types';

export interface OrigDstReader {
  lookup(peer: Addr, local: Addr): Addr | undefined;
  close(): void;
}

export function openOrigDst(bpffs: string): OrigDstReader {
  const lib = native();
  const fd = lib.objGet(path.join(bpffs, 'nm_orig_dst'));
  const val = Buffer.alloc(SIZES.conn);
  return {
    lookup(peer, local) {
      const key = tuple({ address: stripMapped(peer.address), port: peer.port }, { address: stripMapped(local.address), port: local.port });
      return lib.mapLookup(fd, key, val) ? decodeConn(val).orig : undefined;
    },
    close: () => lib.closeFd(fd),
  };
}
