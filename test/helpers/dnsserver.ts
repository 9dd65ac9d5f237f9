// A small authoritative DNS server for tests (UDP, IPv4): answers A queries for the names it holds
// with their TTL, NXDOMAIN for others, built with the agent's own wire codec. `fail` makes it answer
// SERVFAIL to everything (a resolver outage); queries are recorded.
import * as dgram from 'node:dgram';
import { RCODE_NXDOMAIN, RCODE_NOERROR, RCODE_SERVFAIL, buildAnswer, parseQuery } from '../../src/dns/wire';

export class TestDnsServer {
  readonly records = new Map<string, { addresses: string[]; ttl: number }>();
  readonly queries: string[] = [];
  fail = false;
  private socket: dgram.Socket | undefined;
  port = 0;

  set(name: string, addresses: string[], ttl = 1): void {
    this.records.set(name, { addresses, ttl });
  }

  async start(host = '127.0.0.1', port = 0): Promise<number> {
    const s = dgram.createSocket('udp4');
    s.on('message', (msg, from) => {
      const q = parseQuery(msg);
      if (q === undefined) return;
      this.queries.push(q.question.name);
      const r = this.records.get(q.question.name);
      const rcode = this.fail ? RCODE_SERVFAIL : r === undefined ? RCODE_NXDOMAIN : RCODE_NOERROR;
      s.send(buildAnswer(q, { rcode, addresses: this.fail ? [] : (r?.addresses ?? []), ttl: r?.ttl ?? 0 }), from.port, from.address);
    });
    await new Promise<void>((resolve) => s.bind(port, host, () => resolve()));
    this.socket = s;
    this.port = s.address().port;
    return this.port;
  }

  close(): void {
    this.socket?.close();
  }
}
