// The bounded wait for a connection's first bytes, shared by protocol detection and the ClientHello
// read: bytes are gathered until a decider has a verdict (or the wait, the client or the socket ends
// it), then put back (unshift) so the next consumer sees the stream untouched, and the socket is left
// paused for it.
import type { Duplex } from 'node:stream';

/** decided: DECIDE returned a verdict; timeout: the wait ran out; ended: the client half-closed first;
 *  closed: the socket failed or closed. */
export type PeekOutcome = 'decided' | 'timeout' | 'ended' | 'closed';

export interface Peeked<T> {
  /** DECIDE's verdict; undefined unless the outcome is 'decided'. */
  readonly verdict: T | undefined;
  readonly outcome: PeekOutcome;
  /** Bytes read before an 'ended' outcome: a stream cannot take them back after its end. */
  readonly head: Buffer | undefined;
}

/** DECIDE sees all bytes so far and returns undefined while it needs more. */
export function peek<T>(socket: Duplex, timeoutMs: number, decide: (buffered: Buffer) => T | undefined): Promise<Peeked<T>> {
  return new Promise((resolve) => {
    let buffered: Buffer | undefined;
    let settled = false;

    const finish = (outcome: PeekOutcome, verdict?: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onClose);
      socket.pause();
      let head: Buffer | undefined;
      if (outcome === 'ended') head = buffered;
      else if (buffered !== undefined && outcome !== 'closed') socket.unshift(buffered);
      resolve({ verdict, outcome, head });
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
      const verdict = decide(buffered);
      if (verdict !== undefined) finish('decided', verdict);
    };
    const onEnd = (): void => finish('ended');
    const onClose = (): void => finish('closed');
    const timer = setTimeout(() => finish('timeout'), timeoutMs);

    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onClose);
    socket.once('error', onClose);
    // A socket an earlier peek left paused does not flow again by a new 'data' listener alone.
    socket.resume();
  });
}
