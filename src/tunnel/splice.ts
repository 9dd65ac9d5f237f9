// Joins a tunnel stream and a TCP socket the way RFC 9113 §8.5 asks of a CONNECT proxy: a FIN
// becomes END_STREAM and back (half-close survives the tunnel), a TCP error or RST becomes
// RST_STREAM(CONNECT_ERROR), and a reset stream or dead session becomes a TCP RST. Both agents use
// it: the source joins the client's socket to the pool's stream, the destination joins the server
// stream to its connection to the pod.
import * as http2 from 'node:http2';
import type * as net from 'node:net';

const { NGHTTP2_NO_ERROR, NGHTTP2_CONNECT_ERROR } = http2.constants;

export interface SpliceResult {
  /** Bytes read from the socket (and written into the tunnel). */
  readonly fromSocket: number;
  /** Bytes read from the tunnel (and written to the socket). */
  readonly fromStream: number;
  /** Which side ended the connection abnormally, if any. */
  readonly reset: 'none' | 'socket' | 'stream';
}

/**
 * Pipes `stream` and `socket` into each other until both are closed. The socket must have been
 * created with `allowHalfOpen: true`, or node would end our writing side when the peer's FIN arrives.
 */
export function splice(stream: http2.Http2Stream, socket: net.Socket): Promise<SpliceResult> {
  // The stream may have been reset while the caller was connecting the socket (a client that gave
  // up); its 'close' has been emitted already, so the socket is reset right away.
  if (stream.destroyed || (stream.closed && (stream.rstCode ?? NGHTTP2_NO_ERROR) !== NGHTTP2_NO_ERROR)) {
    socket.on('error', () => undefined);
    abort(socket);
    return Promise.resolve({ fromSocket: 0, fromStream: 0, reset: 'stream' });
  }
  return new Promise((resolve) => {
    let fromSocket = 0;
    let fromStream = 0;
    let reset: SpliceResult['reset'] = 'none';
    let open = 2;
    const closed = (): void => {
      if (--open === 0) resolve({ fromSocket, fromStream, reset });
    };

    socket.on('data', (c: Buffer) => (fromSocket += c.length));
    stream.on('data', (c: Buffer) => (fromStream += c.length));
    socket.pipe(stream);
    // The stream's END_STREAM is forwarded as a FIN one turn later: node's own client writes
    // END_STREAM just before RST_STREAM when it resets, and a FIN would reach the pod ahead of the
    // RST, which then looks like a clean close followed by a late error.
    stream.pipe(socket, { end: false });
    stream.on('end', () =>
      setImmediate(() => {
        if ((stream.rstCode ?? NGHTTP2_NO_ERROR) === NGHTTP2_NO_ERROR && !socket.destroyed) socket.end();
      }),
    );

    socket.on('error', () => {
      if (reset === 'none') reset = 'socket';
      if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_CONNECT_ERROR);
    });
    // The writer's own errors surface through 'close' with rstCode; this listener only keeps an
    // 'error' without a listener from being thrown.
    stream.on('error', () => undefined);
    stream.on('close', () => {
      const code = stream.rstCode ?? NGHTTP2_NO_ERROR;
      if (code !== NGHTTP2_NO_ERROR && !socket.destroyed) {
        if (reset === 'none') reset = 'stream';
        abort(socket);
      } else if (!socket.destroyed && socket.writableFinished && socket.readableEnded) {
        socket.destroy();
      }
      closed();
    });
    socket.on('close', (hadError) => {
      // A socket that closed without both FINs having crossed the tunnel was torn down locally.
      if (!stream.closed && !stream.destroyed && (hadError || !socket.readableEnded)) {
        if (reset === 'none') reset = 'socket';
        stream.close(NGHTTP2_CONNECT_ERROR);
      }
      closed();
    });
  });
}

/** A TCP socket is reset (RST); a Unix socket or a tunnel stream has no RST and is destroyed. */
export function abort(socket: net.Socket): void {
  if ((socket as unknown as { _handle?: { reset?: unknown } })._handle?.reset) socket.resetAndDestroy();
  else socket.destroy();
}
