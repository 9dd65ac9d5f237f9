// Reading a captured TLS connection's ClientHello without consuming it: the bytes are put back
// (unshift) for the TCP splice, which forwards them unchanged to the routed destination. Deciding
// is codec/tlshello.ts; here only the bounded wait.
import type { Duplex } from 'node:stream';
import { MAX_HELLO, parseClientHello } from '../codec/tlshello';
import { peek } from '../conn/peek';

/** More than this without a verdict is no hello (the parser caps the message; this caps the records too). */
const MAX_PEEK = 2 * MAX_HELLO;

export interface PeekResult {
  /** The server name the hello asks for; undefined for no SNI, a malformed hello, or no hello in time. */
  readonly sni: string | undefined;
  /** hello: complete and well-formed; invalid: not a ClientHello; timeout: incomplete when the wait ran
   *  out; ended: the client half-closed first; closed: the socket failed or closed. */
  readonly outcome: 'hello' | 'invalid' | 'timeout' | 'ended' | 'closed';
  /** Bytes read before an 'ended' outcome (a stream cannot take them back after its end). */
  readonly head: Buffer | undefined;
}

/** What HEAD (bytes a client sent before it half-closed) says, without any I/O. */
export function helloOf(head: Buffer | undefined): string | undefined {
  if (head === undefined) return undefined;
  const r = parseClientHello(head);
  return r.kind === 'hello' ? r.sni : undefined;
}

/**
 * Reads the connection's first bytes until they hold a whole ClientHello (or prove not to be one), for
 * up to TIMEOUT_MS, then puts them back and leaves the socket paused for the next consumer.
 */
export async function peekClientHello(socket: Duplex, timeoutMs: number): Promise<PeekResult> {
  const r = await peek(socket, timeoutMs, (b): { hello: boolean; sni: string | undefined } | undefined => {
    const parsed = parseClientHello(b);
    if (parsed.kind === 'hello') return { hello: true, sni: parsed.sni };
    return parsed.kind === 'invalid' || b.length > MAX_PEEK ? { hello: false, sni: undefined } : undefined;
  });
  if (r.outcome === 'ended') return { sni: helloOf(r.head), outcome: 'ended', head: r.head };
  if (r.verdict === undefined) return { sni: undefined, outcome: r.outcome === 'decided' ? 'invalid' : r.outcome, head: undefined };
  return { sni: r.verdict.sni, outcome: r.verdict.hello ? 'hello' : 'invalid', head: undefined };
}
