// An upgraded request (a WebSocket handshake answered 101) as a byte tunnel: the client's connection,
// handed over by its HTTP/1 sink, spliced both ways with the try's connection to the endpoint, with
// backpressure each way and half-closes passed on (a FIN from one side ends that direction only). The
// tunnel ends when the client's connection closes (both directions done, or either side reset or
// failed); the call then records the request once, with the bytes that went each way. No idle timeout
// of its own: a quiet WebSocket stays open until one side closes it.
import type { Duplex } from 'node:stream';
import type { Attempt } from './attempt';
import type { Forward } from './forward';
import { applyEdits, responseFields } from './headerops';
import type { HeaderList, L7Sink } from './types';

/** The 101 the client gets: the endpoint's end-to-end fields with the route's edits, and the protocol. */
function switchedAnswer(headers: HeaderList, fwd: Forward): { headers: HeaderList; upgrade: string } {
  const upgrade = headers.find(([k]) => k === 'upgrade')?.[1] ?? fwd.head.upgrade ?? 'websocket';
  const out = applyEdits(responseFields(headers), fwd.responseEdits);
  return { headers: fwd.setCookie !== undefined ? [...out, ['set-cookie', fwd.setCookie]] : out, upgrade };
}

/** What the tunnel tells the call that made it. */
export interface TunnelOwner {
  /** The tunnel is over (its byte counts are final); DETAIL says why when it failed. */
  tunnelEnded(detail: string | undefined): void;
}

export class UpgradeTunnel {
  /** Bytes that went through from the client (the request's after its head) and to it. */
  fromClient = 0;
  toClient = 0;
  private clientEnded = false;
  private upEnded = false;
  private detail: string | undefined;
  private done = false;

  /**
   * The client gets the 101 (SINK switches its connection over) and is spliced with ATTEMPT's; undefined
   * when the client's connection was gone by then.
   */
  static open(sink: L7Sink, headers: HeaderList, fwd: Forward, attempt: Attempt, owner: TunnelOwner): UpgradeTunnel | undefined {
    const a = switchedAnswer(headers, fwd);
    const client = sink.switchProtocols?.(a.headers, a.upgrade);
    return client === undefined ? undefined : new UpgradeTunnel(client, attempt, owner);
  }

  private constructor(
    private readonly client: Duplex,
    private readonly attempt: Attempt,
    private readonly owner: TunnelOwner,
  ) {
    client.on('data', this.onClientData);
    client.on('end', this.onClientEnd);
    client.on('drain', this.onClientDrain);
    client.on('error', this.onClientError);
    client.on('close', this.onClientClose);
    client.resume();
  }

  // ---- the endpoint's side (the try's events) --------------------------------------------------

  upData(chunk: Buffer): void {
    if (this.done) return;
    this.toClient += chunk.length;
    if (!this.client.write(chunk)) this.attempt.pause();
  }

  /** The endpoint half-closed: so does the tunnel toward the client. */
  upEnd(): void {
    if (this.done) return;
    this.upEnded = true;
    if (!this.client.writableEnded) this.client.end();
  }

  /** The endpoint takes client bytes again. */
  upDrain(): void {
    if (!this.done && !this.client.destroyed) this.client.resume();
  }

  /** The endpoint's connection closed: cleanly once both directions ended, else the client is dropped. */
  upClosed(message: string): void {
    if (this.done) return;
    if (this.clientEnded && this.upEnded) return;
    this.detail ??= message;
    this.client.destroy();
  }

  // ---- the client's side ------------------------------------------------------------------------

  private readonly onClientData = (chunk: Buffer): void => {
    if (this.done) return;
    this.fromClient += chunk.length;
    if (!this.attempt.write(chunk)) this.client.pause();
  };

  private readonly onClientEnd = (): void => {
    this.clientEnded = true;
    if (!this.done) this.attempt.end();
  };

  private readonly onClientDrain = (): void => {
    if (!this.done) this.attempt.resume();
  };

  private readonly onClientError = (err: Error): void => {
    this.detail ??= `downstream connection failed: ${err.message}`;
  };

  private readonly onClientClose = (): void => {
    if (this.done) return;
    if (!(this.clientEnded && this.upEnded)) this.detail ??= 'downstream connection closed';
    this.end();
  };

  /** Ends the tunnel now (the call finished for another reason: a bug, a shutdown). */
  close(): void {
    if (this.done) return;
    this.detail ??= 'tunnel closed';
    this.client.destroy();
    this.end();
  }

  private end(): void {
    if (this.done) return;
    this.done = true;
    this.owner.tunnelEnded(this.detail);
  }
}
