// The agents' outbound listeners in the kernel's view (nm_listeners, a pinned SOCKMAP). While a
// listening socket is open it sits in one slot; the kernel takes it out when its process closes it or
// dies, so connect4 knows whether any agent can accept. Two agents hold a slot each during a handover,
// and the old one sees the new one here. An agent with several workers registers up to half the slots
// (one socket per worker, first come), so an old and a new agent always fit together.
import * as path from 'node:path';
import { logger } from '../log';
import { native, type NativeBpf } from './ffi';

const log = logger('listeners');

/** NM_LISTENER_SLOTS in maps.h. */
export const LISTENER_SLOTS = 8;
/** The most sockets one agent registers: the other half is for its successor during a handover. */
export const OWN_SLOTS = LISTENER_SLOTS / 2;
const BPF_NOEXIST = 1;

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

export class ListenerSlots {
  private readonly mapFd: number;
  /** Registered sockets of this agent: fd → its slot and the socket's cookie. */
  private readonly own = new Map<number, { slot: number; cookie: bigint }>();

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

  /**
   * Makes this agent's registered sockets those of FDS (its workers' listeners), at most OWN_SLOTS:
   * sockets whose slot the kernel cleared (their worker closed them) are forgotten, new ones take
   * free slots. Returns how many are registered.
   */
  sync(fds: readonly number[]): number {
    const live = this.cookies();
    const want = new Set(fds);
    for (const [fd, o] of this.own) if (!want.has(fd) || live.get(o.slot) !== o.cookie) this.own.delete(fd);
    for (const fd of fds) {
      if (this.own.size >= OWN_SLOTS) break;
      if (!this.own.has(fd)) this.register(fd);
    }
    return this.own.size;
  }

  /** Puts one listening socket (by fd) into a free slot. */
  private register(fd: number): boolean {
    const value = Buffer.alloc(8);
    value.writeBigUInt64LE(BigInt(fd));
    for (let slot = 0; slot < LISTENER_SLOTS; slot++) {
      if (this.lib.mapUpdate(this.mapFd, u32(slot), value, BPF_NOEXIST) !== 0) continue;
      const cookie = this.cookies().get(slot);
      if (cookie === undefined) continue;
      this.own.set(fd, { slot, cookie });
      return true;
    }
    log.warn({ slots: LISTENER_SLOTS }, 'every nm_listeners slot is taken: this listener is not counted as listening');
    return false;
  }

  /** Listeners of another agent are open (a successor has taken over accepting). */
  othersListening(): number {
    const mine = new Set([...this.own.values()].map((o) => `${o.slot}:${o.cookie}`));
    let n = 0;
    for (const [slot, cookie] of this.cookies()) if (!mine.has(`${slot}:${cookie}`)) n++;
    return n;
  }

  /** Leaves the slots before the sockets close (closing would clear them too; this is immediate). */
  unregister(): void {
    const live = this.cookies();
    for (const o of this.own.values()) if (live.get(o.slot) === o.cookie) this.lib.mapDelete(this.mapFd, u32(o.slot));
    this.own.clear();
  }

  close(): void {
    this.lib.closeFd(this.mapFd);
  }
}
