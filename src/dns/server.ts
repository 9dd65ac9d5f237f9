// The node's DNS proxy (UDP and TCP on the same port): a query for a mesh host is answered from the mesh view (view.ts), any
// other is forwarded unchanged to the node's resolvers and their answer sent back unchanged. A packet
// that is not a well-formed query is dropped and counted; nothing a client sends can stop the server.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { Counter, type Registry } from '../telemetry/promlite';
import { logger } from '../log';
import { decide, typeLabel, type DnsView } from './view';
import { buildAnswer, parseQuery, type Query } from './wire';
import { Framer, forwardTcp, frame } from './tcp';

const log = logger('dns');

export interface DnsServerOptions {
  readonly host: string;
  readonly port: number;
  /** "ip" or "ip:port" resolvers, tried in order (the next one after a timeout or error). */
  readonly upstream: readonly string[];
  readonly view: () => DnsView | undefined;
  readonly registry?: Registry;
  /** How long a forwarded query waits for each resolver (ms). */
  readonly forwardTimeoutMs?: number;
  /** Forwarded queries in flight at most; beyond it queries are dropped (the client retries). */
  readonly maxInflight?: number;
}

export class DnsServer {
  private socket: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly conns = new Set<net.Socket>();
  private inflight = 0;
  private readonly forwarding = new Set<dgram.Socket>();
  private readonly requests: Counter<'type'>;
  private readonly forwarded: Counter;
  private readonly failures: Counter;
  private readonly malformed: Counter;
  private malformedSaid = false;

  constructor(private readonly opts: DnsServerOptions) {
    const registers = opts.registry ? [opts.registry] : [];
    this.requests = new Counter({ name: 'nodemesh_dns_requests_total', help: 'DNS queries received by the DNS proxy, by question type (A, AAAA, other)', labelNames: ['type'], registers });
    this.forwarded = new Counter({ name: 'nodemesh_dns_forwarded_total', help: 'DNS queries for names outside the mesh, forwarded to the node resolvers', registers });
    this.failures = new Counter({ name: 'nodemesh_dns_forward_failures_total', help: 'Forwarded DNS queries no resolver answered (timeout or error; the client retries)', registers });
    this.malformed = new Counter({ name: 'nodemesh_dns_malformed_total', help: 'DNS packets dropped because they were not a well-formed query', registers });
  }

  async start(): Promise<{ address: string; port: number }> {
    // SO_REUSEPORT, as every agent listener: a next agent binds beside this one during a restart.
    const s = dgram.createSocket({ type: 'udp4', reusePort: true });
    s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(this.opts.port, this.opts.host, () => (s.off('error', reject), resolve()));
    });
    s.on('error', (err) => log.warn({ err }, 'DNS proxy socket error'));
    this.socket = s;
    const a = s.address();
    const tcp = net.createServer((c) => this.onConnection(c));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ port: a.port, host: this.opts.host, reusePort: true }, () => (tcp.off('error', reject), resolve()));
    }).catch((e: unknown) => {
      this.close();
      throw e;
    });
    tcp.on('error', (err) => log.warn({ err }, 'DNS proxy TCP listener error'));
    this.tcp = tcp;
    log.info({ address: `${a.address}:${a.port}`, upstream: this.opts.upstream }, 'DNS proxy listening');
    return { address: a.address, port: a.port };
  }

  close(): void {
    for (const f of this.forwarding) f.close();
    this.forwarding.clear();
    this.socket?.close();
    this.socket = undefined;
    this.tcp?.close();
    this.tcp = undefined;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
  }

  /** Parses and counts a query; undefined (dropped, counted, logged once) when it is not one. */
  private query(msg: Buffer, from: string): Query | undefined {
    const q = parseQuery(msg);
    if (q === undefined) {
      this.malformed.inc();
      if (!this.malformedSaid) log.warn({ code: 'NM_E_DNS_MALFORMED', from, bytes: msg.length }, 'dropped a DNS packet that is not a well-formed query (logged once)');
      this.malformedSaid = true;
      return undefined;
    }
    this.requests.inc({ type: typeLabel(q.question.type) });
    return q;
  }

  /** DNS over TCP: queries answered in order; idle connections closed after 10 s. */
  private onConnection(c: net.Socket): void {
    this.conns.add(c);
    c.on('close', () => this.conns.delete(c));
    c.on('error', () => c.destroy());
    c.setTimeout(10_000, () => c.destroy());
    const framer = new Framer();
    let chain = Promise.resolve();
    c.on('data', (d: Buffer) => {
      for (const msg of framer.push(d)) {
        const q = this.query(msg, `${c.remoteAddress}:${c.remotePort}`);
        if (q === undefined) return void c.destroy();
        chain = chain.then(async () => {
          const answer = await this.answerTcp(msg, q);
          if (answer !== undefined && !c.destroyed) c.write(frame(answer));
        });
      }
    });
  }

  private async answerTcp(msg: Buffer, q: Query): Promise<Buffer | undefined> {
    const view = this.opts.view();
    const d = view === undefined ? { kind: 'forward' as const } : decide(view, q.question);
    if (d.kind === 'answer') return buildAnswer(q, d.answer);
    this.forwarded.inc();
    const answer = await forwardTcp(msg, this.opts.upstream, this.opts.forwardTimeoutMs ?? 2000);
    if (answer === undefined) this.failures.inc();
    return answer;
  }

  private onMessage(msg: Buffer, from: dgram.RemoteInfo): void {
    const q = this.query(msg, `${from.address}:${from.port}`);
    if (q === undefined) return;
    const view = this.opts.view();
    const d = view === undefined ? { kind: 'forward' as const } : decide(view, q.question);
    if (d.kind === 'answer') return this.reply(buildAnswer(q, d.answer), from);
    this.forward(msg, from);
  }

  private reply(buf: Buffer, to: dgram.RemoteInfo): void {
    this.socket?.send(buf, to.port, to.address, (err) => {
      if (err) log.debug({ err: err.message }, 'DNS reply not sent');
    });
  }

  /** One socket per forwarded query: the answer is matched by the socket, not by id; sent back as is. */
  private forward(msg: Buffer, from: dgram.RemoteInfo): void {
    if (this.opts.upstream.length === 0 || this.inflight >= (this.opts.maxInflight ?? 512)) {
      this.failures.inc();
      return;
    }
    this.forwarded.inc();
    this.inflight++;
    const s = dgram.createSocket('udp4');
    this.forwarding.add(s);
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = (answer: Buffer | undefined): void => {
      clearTimeout(timer);
      if (!this.forwarding.delete(s)) return;
      this.inflight--;
      s.close();
      if (answer !== undefined) this.reply(answer, from);
      else this.failures.inc();
    };
    const next = (): void => {
      const server = this.opts.upstream[i++];
      if (server === undefined) return done(undefined);
      const [host, port] = server.split(':');
      clearTimeout(timer);
      timer = setTimeout(next, this.opts.forwardTimeoutMs ?? 2000);
      s.send(msg, Number(port ?? 53), host!, (err) => {
        if (err) next();
      });
    };
    s.on('message', (answer) => {
      // Only an answer to this query (same id) is passed back.
      if (answer.length >= 2 && answer.readUInt16BE(0) === msg.readUInt16BE(0)) done(answer);
    });
    s.on('error', () => next());
    next();
  }
}
