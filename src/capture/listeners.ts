// The agents' outbound listeners in the kernel's view (nm_listeners, a pinned SOCKMAP). While a
// listening socket is open it sits in one slot; the kernel takes it out when its process closes it or
// dies, so connect4 knows whether any agent can accept. Two agents hold a slot each during a handover,
// and the old one sees the new one here.
import * as path from 'node:path';
import { logger } from '../log';
import { native, type NativeBpf } from './ffi';

const log = logger('listeners');

/** NM_LISTENER_SLOTS in maps.h. */
export const LISTENER_SLOTS = 8;
const BPF_NOEXIST = 1;

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

export class ListenerSlots {
  private readonly mapFd: number;
  private own: { slot: number; cookie: bigint } | undefined;

  private constructor(
    private readonly lib: NativeBpf,
    bpffs: string,
  ) {
    this.mapFd = lib.objGet(path.join(bpffs, 'nm_listeners'));
  }

  /** Undefined when the pins predate nm_listeners (then connect4 is the old one too: nothing to do). */
  static open(bpffs: string): ListenerSlots | undefined {
    try {
      return new ListenerSlots(native(), bpffs);
    } catch (err) {
      log.warn({ err }, 'nm_listeners not pinned: a crash of this agent refuses proxy-mode connects until it restarts');
      return undefined;
    }
  }

  /** The cookies of the listening sockets in the map, by slot. */
  private cookies(): Map<number, bigint> {
    const out = new Map<number, bigint>();
    const v = Buffer.alloc(8);
    for (let slot = 0; slot < LISTENER_SLOTS; slot++) if (this.lib.mapLookup(this.mapFd, u32(slot), v)) out.set(slot, v.readBigUInt64LE());
    return out;
  }

  /** Puts this agent's listening socket (by fd) into a free slot. */
  register(fd: number): boolean {
    const value = Buffer.alloc(8);
    value.writeBigUInt64LE(BigInt(fd));
    for (let slot = 0; slot < LISTENER_SLOTS; slot++) {
      if (this.lib.mapUpdate(this.mapFd, u32(slot), value, BPF_NOEXIST) !== 0) continue;
      const cookie = this.cookies().get(slot);
      if (cookie === undefined) continue;
      this.own = { slot, cookie };
      return true;
    }
    log.warn({ slots: LISTENER_SLOTS }, 'every nm_listeners slot is taken: this agent is not counted as listening');
    return false;
  }

  /** Another agent's listener is open (a successor has taken over accepting). */
  othersListening(): number {
    let n = 0;
    for (const [slot, cookie] of this.cookies()) if (slot !== this.own?.slot || cookie !== this.own?.cookie) n++;
    return n;
  }

  /** Leaves the slot before the socket closes (closing would clear it too; this is immediate). */
  unregister(): void {
    const o = this.own;
    this.own = undefined;
    if (o && this.cookies().get(o.slot) === o.cookie) this.lib.mapDelete(this.mapFd, u32(o.slot));
  }

  close(): void {
    this.lib.closeFd(this.mapFd);
  }
}
