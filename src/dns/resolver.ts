// DNS resolution of ServiceEntry endpoint names, the I/O half: each wanted name is looked up (A records
// with their TTLs) and looked up again when its TTL runs out, kept within a floor and a ceiling. A failed
// lookup keeps the last good answer (logged once per failure streak, counted) and is retried after the
// floor. A changed set of addresses calls onChange, which recomposes the config (see resolved.ts).
import { Resolver } from 'node:dns/promises';
import { Counter, type Registry } from '../telemetry/promlite';
import { logger } from '../log';
import { refreshDelayMs, sameAddresses, type Answers } from './resolved';

const log = logger('dns');

export interface HostResolverOptions {
  /** Resolvers to ask ("ip" or "ip:port"); empty = the system's (/etc/resolv.conf). */
  readonly servers: readonly string[];
  readonly onChange: () => void;
  readonly registry?: Registry;
  readonly floorMs?: number;
  readonly ceilingMs?: number;
  /** Per-query timeout (ms) and tries, passed to the resolver. */
  readonly timeoutMs?: number;
}

interface Entry {
  addresses: readonly string[] | undefined;
  timer: NodeJS.Timeout | undefined;
  failing: boolean;
}

export class HostResolver {
  private readonly entries = new Map<string, Entry>();
  private readonly resolver: Resolver;
  private readonly lookups: Counter<'outcome'>;
  private stopped = false;

  constructor(private readonly opts: HostResolverOptions) {
    this.resolver = new Resolver({ timeout: opts.timeoutMs ?? 2000, tries: 2 });
    if (opts.servers.length > 0) this.resolver.setServers([...opts.servers]);
    this.lookups = new Counter({
      name: 'nodemesh_dns_resolutions_total',
      help: 'Lookups of ServiceEntry endpoint names by outcome (success, failure: the last good answer stays)',
      labelNames: ['outcome'],
      registers: opts.registry ? [opts.registry] : [],
    });
  }

  /** The names to keep resolved: new ones are looked up now, names no longer wanted are dropped. */
  want(names: readonly string[]): void {
    const keep = new Set(names);
    for (const [name, e] of this.entries) {
      if (!keep.has(name)) (clearTimeout(e.timer), this.entries.delete(name));
    }
    for (const name of names) {
      if (this.entries.has(name) || this.stopped) continue;
      this.entries.set(name, { addresses: undefined, timer: undefined, failing: false });
      void this.lookup(name);
    }
  }

  answers(): Answers {
    const out = new Map<string, readonly string[]>();
    for (const [name, e] of this.entries) if (e.addresses !== undefined) out.set(name, e.addresses);
    return out;
  }

  /** Names without any good answer yet (readiness and tests). */
  unresolved(): string[] {
    return [...this.entries].filter(([, e]) => e.addresses === undefined).map(([n]) => n);
  }

  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.entries.clear();
    this.resolver.cancel();
  }

  private async lookup(name: string): Promise<void> {
    const floor = this.opts.floorMs ?? 5_000;
    const ceiling = this.opts.ceilingMs ?? 300_000;
    let delay = floor;
    let changed = false;
    try {
      const records = await this.resolver.resolve4(name, { ttl: true });
      const e = this.entries.get(name);
      if (e === undefined || this.stopped) return;
      const addresses = records.map((r) => r.address);
      this.lookups.inc({ outcome: 'success' });
      if (e.failing) log.info({ host: name }, 'DNS lookup succeeds again');
      e.failing = false;
      changed = !sameAddresses(e.addresses, addresses);
      if (changed) e.addresses = Object.freeze(addresses);
      delay = refreshDelayMs(records.map((r) => r.ttl), floor, ceiling);
    } catch (err) {
      const e = this.entries.get(name);
      if (e === undefined || this.stopped) return;
      this.lookups.inc({ outcome: 'failure' });
      if (!e.failing) {
        const kept = e.addresses === undefined ? 'no answer yet' : `keeping ${e.addresses.join(', ')}`;
        log.warn({ code: 'NM_E_DNS_LOOKUP', host: name, err: (err as Error).message }, `DNS lookup of ${name} failed (${kept}); retrying`);
      }
      e.failing = true;
    }
    const e = this.entries.get(name);
    if (e === undefined || this.stopped) return;
    e.timer = setTimeout(() => void this.lookup(name), delay);
    e.timer.unref();
    if (changed) this.opts.onChange();
  }
}
