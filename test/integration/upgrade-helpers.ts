// WebSocket-style fixtures for the upgrade tests: an endpoint that answers a handshake with 101 and
// then echoes bytes (pushing some of its own with the 101 head, and "bye" after the client's FIN), and
// a raw-socket client that collects what comes back.
import * as net from 'node:net';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Addr } from '../../src/capture/types';

export const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** RFC 6455's Sec-WebSocket-Accept for KEY. */
export function acceptOf(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

export function handshake(path: string, host = 'web', extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

export interface WsEndpoint {
  readonly addr: Addr;
  /** Request heads received, in order. */
  readonly heads: string[];
  /** Connections whose client half-closed. */
  readonly clientEnds: () => number;
  close(): Promise<void>;
}

/**
 * Answers an upgrade with 101 (unless REFUSE returns a raw answer for the head), sends "hello" with
 * the head, echoes each chunk as "echo:<chunk>", and on the client's FIN writes "bye" and ends.
 */
export async function wsEndpoint(refuse?: (head: string) => string | undefined): Promise<WsEndpoint> {
  const heads: string[] = [];
  const sockets = new Set<net.Socket>();
  let ends = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let open = false;
    s.on('data', (d: Buffer) => {
      if (open) return void s.write(Buffer.concat([Buffer.from('echo:'), d]));
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end + 4).toString('latin1');
      const rest = buf.subarray(end + 4);
      heads.push(head);
      const answer = refuse?.(head);
      if (answer !== undefined) {
        buf = rest;
        return void s.write(answer);
      }
      const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? '';
      open = true;
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(key)}\r\n\r\nhello`);
      if (rest.length > 0) s.write(Buffer.concat([Buffer.from('echo:'), rest]));
    });
    s.on('end', () => {
      ends++;
      if (open) s.end('bye');
      else s.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    addr: { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port },
    heads,
    clientEnds: () => ends,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface RawClient {
  readonly socket: net.Socket;
  /** Everything received so far (latin1). */
  text(): string;
  /** Resolves once the received text matches RE (bounded: rejects after MS). */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  readonly closed: Promise<void>;
  readonly ended: () => boolean;
}

export async function rawClient(addr: Addr): Promise<RawClient> {
  const socket = net.connect({ host: addr.address, port: addr.port, allowHalfOpen: true });
  await once(socket, 'connect');
  let got = '';
  let ended = false;
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  socket.on('end', () => (ended = true));
  socket.on('error', () => undefined);
  const closed = once(socket, 'close').then(() => undefined);
  return {
    socket,
    text: () => got,
    ended: () => ended,
    closed,
    waitFor: async (re, ms = 3_000) => {
      for (let waited = 0; waited < ms; waited += 10) {
        if (re.test(got)) return got;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`never received ${String(re)}; got ${JSON.stringify(got)}`);
    },
  };
}
