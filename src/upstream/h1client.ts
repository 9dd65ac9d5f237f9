// HTTP/1.1 upstream requests for the L7 engine over node:http: one keep-alive Agent per endpoint key
// (an endpoint "ip:port", or a mesh relay), so pooled connections never cross endpoints. The Agent's
// createConnection dials the key's address, which is how relayed endpoints are reached over their Unix
// socket. A connect that outlives its timeout fails the request with CONNECT_TIMEOUT_CODE.
import * as http from 'node:http';
import * as net from 'node:net';
import type { Addr } from '../capture/types';
import { CONNECT_TIMEOUT_CODE } from './failure';
import { isSocketPath } from './relay';

export interface H1ClientOptions {
  readonly connectTimeoutMs: number;
  /** Idle pooled connection lifetime (a server's Keep-Alive hint can shorten it, as node's Agent does). */
  readonly idleTimeoutMs: number;
  /** Connections per endpoint; past it requests queue in the Agent. */
  readonly maxSocketsPerKey?: number;
}

export interface H1RequestHead {
  readonly method: string;
  /** Origin-form target: path plus query. */
  readonly path: string;
  /** Lower-case names, no hop-by-hop fields; includes host. */
  readonly headers: readonly (readonly [string, string])[];
}

export interface H1RequestOptions {
  /** DestinationRule connectTimeout; defaults to the client's. */
  readonly connectTimeoutMs?: number;
}

class ConnectTimeout extends Error {
  readonly code = CONNECT_TIMEOUT_CODE;
}

/** A started request and whether its connection was ever established (else a failure is a connect failure). */
export interface H1Call {
  readonly req: http.ClientRequest;
  /** The socket connected (or came connected from the pool). */
  connected: boolean;
  /** The socket came from the pool (a failure before any response may be a stale keep-alive connection). */
  reused: boolean;
}

export class H1Client {
  private readonly agents = new Map<string, http.Agent>();
  private closed = false;

  constructor(private readonly opts: H1ClientOptions) {}

  /**
   * Starts a request to the endpoint `key`, dialling `addr`. The caller writes the body and ends it;
   * network failures arrive as the request's 'error'.
   */
  request(key: string, addr: Addr, head: H1RequestHead, opts: H1RequestOptions = {}): H1Call {
    if (this.closed) throw new Error('h1 client closed');
    const flat: string[] = [];
    for (const [k, v] of head.headers) flat.push(k, v);
    const req = http.request({
      agent: this.agent(key, addr),
      method: head.method,
      path: head.path,
      headers: flat,
      setHost: false,
      // The Agent dials; these only name the pool entry.
      host: 'upstream',
      port: 80,
    });
    const call: H1Call = { req, connected: false, reused: false };
    const ms = opts.connectTimeoutMs ?? this.opts.connectTimeoutMs;
    req.once('socket', (sock: net.Socket) => {
      if (!(sock as net.Socket & { connecting: boolean }).connecting) {
        call.connected = true;
        call.reused = req.reusedSocket;
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      if (ms > 0) {
        timer = setTimeout(() => req.destroy(new ConnectTimeout(`connect timeout after ${ms} ms`)), ms);
        timer.unref();
      }
      const clear = (): void => clearTimeout(timer);
      sock.once('connect', () => {
        call.connected = true;
        clear();
      });
      sock.once('close', clear);
      req.once('close', clear);
    });
    return call;
  }

  private agent(key: string, addr: Addr): http.Agent {
    let a = this.agents.get(key);
    if (a === undefined) {
      a = new http.Agent({
        keepAlive: true,
        timeout: this.opts.idleTimeoutMs > 0 ? this.opts.idleTimeoutMs : undefined,
        scheduling: 'lifo',
        ...(this.opts.maxSocketsPerKey !== undefined ? { maxSockets: this.opts.maxSocketsPerKey } : {}),
      } as http.AgentOptions);
      // The Agent takes the returned socket; every connection of this key dials the key's address.
      a.createConnection = (() =>
        isSocketPath(addr) ? net.connect({ path: addr.address }) : net.connect({ host: addr.address, port: addr.port, noDelay: true })) as typeof a.createConnection;
      this.agents.set(key, a);
    }
    return a;
  }

  /** Drops agents of endpoints no longer in KEEP (after a reload); their idle sockets close. */
  retain(keep: ReadonlySet<string>): void {
    for (const [k, a] of this.agents) {
      if (keep.has(k)) continue;
      a.destroy();
      this.agents.delete(k);
    }
  }

  close(): void {
    this.closed = true;
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}
