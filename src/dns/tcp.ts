// DNS over TCP for the node's DNS proxy: messages framed by a 2-byte length (RFC 1035 4.2.2); each
// query is answered from the view or forwarded over TCP to the upstream resolvers and the answer sent
// back unchanged. A frame that is not a well-formed query is dropped and counted, the connection closed.
import * as net from 'node:net';

/** Splits a TCP stream into DNS messages. */
export class Framer {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    while (this.buf.length >= 2) {
      const n = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + n) break;
      out.push(this.buf.subarray(2, 2 + n));
      this.buf = this.buf.subarray(2 + n);
    }
    return out;
  }
  /** Bytes held for an incomplete message (bounded by the 64 KiB a length can say). */
  get pending(): number {
    return this.buf.length;
  }
}

export function frame(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length, 0);
  return Buffer.concat([len, msg]);
}

/** One query over TCP to "ip[:port]" servers in order; the first whole answer, or undefined. */
export async function forwardTcp(msg: Buffer, servers: readonly string[], timeoutMs: number): Promise<Buffer | undefined> {
  for (const server of servers) {
    const [host, port] = server.split(':');
    const answer = await new Promise<Buffer | undefined>((resolve) => {
      const s = net.connect({ host: host!, port: Number(port ?? 53) });
      const framer = new Framer();
      const done = (b: Buffer | undefined): void => {
        s.destroy();
        resolve(b);
      };
      s.setTimeout(timeoutMs, () => done(undefined));
      s.on('connect', () => s.write(frame(msg)));
      s.on('data', (d: Buffer) => {
        const got = framer.push(d);
        if (got[0] !== undefined) done(Buffer.from(got[0]));
      });
      s.on('error', () => done(undefined));
      s.on('close', () => done(undefined));
    });
    if (answer !== undefined) return answer;
  }
  return undefined;
}
