// The main thread's side of the proxy workers: starts them (the first alone, so a port 0 it binds is
// the one the others share), drives config reloads through the two-phase broadcast (broadcast.ts),
// posts certificates, opens listeners, collects metrics, restarts a worker that exits, and stops them.
import { Worker } from 'node:worker_threads';
import type { MeshConfig } from '../config/model';
import type { JSONWebKeySet } from 'jose';
import type { HeldCerts } from '../identity/mirror';
import { logger } from '../log';
import type { MetricsJSON } from '../telemetry/aggregate';
import { istioSeriesOf } from '../telemetry/admin-series';
import type { IstioSeries } from '../telemetry/admin-stats';
import { RetiredCounters } from './retired';
import { initial, ready, step, type BroadcastState, type Effect } from './broadcast';
import type { FromWorker, ToWorker, WorkerInit } from './protocol';

const log = logger('workers');

export interface PoolOptions {
  readonly count: number;
  /** The worker entry (dist/src/worker.js). */
  readonly script: string;
  readonly init: Omit<WorkerInit, 'index' | 'certs' | 'jwks' | 'rateTable'>;
  readonly certs: () => HeldCerts;
  /** The JWKS held by URI, for a worker that starts; absent: none. */
  readonly jwks?: () => Readonly<Record<string, JSONWebKeySet>>;
  /** A worker asks for URI's JWKS to be fetched (it has none, or not the kid a token names). */
  readonly onJwksRefresh?: (uri: string) => void;
  readonly rateTable: () => SharedArrayBuffer;
  /** Called with every worker's outbound listener fd whenever that set changes (nm_listeners). */
  readonly onListeners?: (fds: readonly number[]) => void;
  /** How long a reload phase waits for the workers (ms). */
  readonly phaseTimeoutMs?: number;
  /** A worker that answers no ping for this long (a stuck event loop) is replaced (ms); default: the phase timeout, so a worker building a large config is not taken for a stuck one. */
  readonly livenessTimeoutMs?: number;
}

interface Handle {
  readonly name: string;
  readonly index: number;
  readonly worker: Worker;
  booted: boolean;
  /** The outbound listener's fd once it listens. */
  fd: number | undefined;
  /** Ids of the requests it has not answered yet (failed at once if it exits). */
  readonly asked: Set<number>;
}

type Outcome = { readonly ok: true } | { readonly ok: false; readonly error: string };
interface Published {
  readonly config: MeshConfig;
  readonly partial: boolean;
  readonly rateTable: SharedArrayBuffer;
  readonly done?: (o: Outcome) => void;
}

const RESTART_DELAY_MS = 1000;

export class WorkerPool {
  private state: BroadcastState;
  private readonly handles = new Map<string, Handle>();
  private readonly published = new Map<number, Published>();
  private readonly replies = new Map<number, (m: { value: unknown; error?: string }) => void>();
  private nextId = 1;
  private tunnelPort: number;
  private listenPort: number | undefined;
  private closing = false;
  /** Workers that exited while the agent ran (each was replaced). */
  private exits = 0;
  /** Each live worker's last scrape, and the counters of workers that exited (retired.ts). */
  private readonly lastScrape = new Map<string, MetricsJSON>();
  private readonly retired = new RetiredCounters();
  private readonly ticker: NodeJS.Timeout;
  /** Workers with a ping in flight. */
  private readonly pinging = new Set<Handle>();

  constructor(private readonly opts: PoolOptions) {
    this.state = initial(opts.phaseTimeoutMs ?? 15_000);
    this.tunnelPort = opts.init.tunnelPort;
    this.ticker = setInterval(() => {
      this.step({ kind: 'tick', now: Date.now() });
      this.ping();
    }, 1000).unref();
  }

  /**
   * Starts every worker; resolves once all have booted (their tunnel listeners are bound). Configs
   * published meanwhile reach each worker as it joins. With a tunnel port of 0 the first worker boots
   * alone, so the port it gets is the one the others bind.
   */
  async start(): Promise<void> {
    const rest = (from: number): Promise<void>[] => Array.from({ length: this.opts.count - from }, (_, i) => this.spawn(i + from));
    if (this.tunnelPort === 0) {
      await this.spawn(0);
      await Promise.all(rest(1));
    } else await Promise.all(rest(0));
  }

  size(): number {
    return this.handles.size;
  }

  /** How many workers exited unexpectedly (and were replaced) since start. */
  restarts(): number {
    return this.exits;
  }

  /** Every live worker runs the newest committed config. */
  ready(): boolean {
    return ready(this.state);
  }

  /** Prepares CONFIG in every worker, then commits it everywhere; ok false if any could not. */
  publish(config: MeshConfig, partial: boolean): Promise<Outcome> {
    return new Promise((done) => {
      const gen = this.state.last + 1;
      this.published.set(gen, { config, partial, rateTable: this.opts.rateTable(), done });
      const before = this.state.pending;
      this.step({ kind: 'publish', now: Date.now() });
      // A pending prepare is aborted by a newer config; a pending commit was decided and goes on.
      if (before !== undefined) this.settle(before.gen, before.phase === 'commit' ? { ok: true } : undefined);
    });
  }

  /** URI's JWKS after a fetch (undefined: none yet): every worker's copy, and the requests waiting on it. */
  postJwks(uri: string, keys: JSONWebKeySet | undefined): void {
    for (const h of this.handles.values()) if (h.booted) this.post(h, { t: 'jwks', uri, keys });
  }

  postCerts(certs: HeldCerts): void {
    for (const h of this.handles.values()) if (h.booted) this.post(h, { t: 'certs', certs });
  }

  /** Opens every worker's outbound listener on PORT (0: the first worker's choice); resolves with the port. */
  async listen(port: number): Promise<number> {
    const handles = [...this.handles.values()].filter((h) => h.booted);
    const first = handles[0];
    if (first === undefined) throw new Error('no proxy worker is running');
    const bound = (await this.request(first, (id) => ({ t: 'listen', id, port }))) as { fd: number | undefined; port: number };
    first.fd = bound.fd;
    this.listenPort = bound.port;
    this.listenersChanged();
    // Every booted worker without a listener, including one that joined while the first bound
    // (a bind in progress is shared in the worker, so asking twice binds once).
    await Promise.all([...this.handles.values()].filter((h) => h.booted && h.fd === undefined).map((h) => this.listenOn(h)));
    return bound.port;
  }

  private async listenOn(h: Handle): Promise<void> {
    if (this.listenPort === undefined) return;
    const r = (await this.request(h, (id) => ({ t: 'listen', id, port: this.listenPort! }))) as { fd: number | undefined };
    h.fd = r.fd;
    this.listenersChanged();
  }

  private listenersChanged(): void {
    const fds = [...this.handles.values()].flatMap((h) => (h.fd !== undefined ? [h.fd] : []));
    this.opts.onListeners?.(fds);
  }

  /**
   * Every worker's answer to a scrape or series request; a worker silent for TIMEOUT_MS is left out of
   * a series request, and counted with its last answer in a scrape. A scrape also gets what workers
   * that exited had counted, so summed counters never go down.
   */
  async collect(t: 'scrape' | 'state', timeoutMs = 5000): Promise<unknown[]> {
    const answers = await Promise.all(
      [...this.handles.values()]
        .filter((h) => h.booted)
        .map(async (h) => {
          const a = await this.request(h, (id) => ({ t, id }), timeoutMs).catch(() => undefined);
          if (t !== 'scrape' || this.handles.get(h.name) !== h) return { h, a };
          if (a === undefined) return { h, a: this.lastScrape.get(h.name) };
          this.lastScrape.set(h.name, a as MetricsJSON);
          return { h, a };
        }),
    );
    if (t !== 'scrape') return answers.flatMap(({ a }) => (a !== undefined ? [a] : []));
    // A worker that exited while the others answered is in the retired part now: counted there only.
    const retired = this.retired.part();
    const live = answers.flatMap(({ h, a }) => (a !== undefined && this.handles.get(h.name) === h ? [a] : []));
    return [...live, ...(retired.length > 0 ? [retired] : [])];
  }

  /**
   * The Istio series for the admin API's stats: read from the same scrape as /metrics, with what
   * workers that exited had counted, so the stats never go down when a worker is replaced either.
   */
  async stats(timeoutMs = 5000): Promise<IstioSeries> {
    return istioSeriesOf((await this.collect('scrape', timeoutMs)) as MetricsJSON[]);
  }

  /** Stops every worker: each stops accepting and drains within DRAIN_MS; stragglers are terminated. */
  async close(drainMs: number): Promise<void> {
    this.closing = true;
    clearInterval(this.ticker);
    await Promise.all(
      [...this.handles.values()].map(async (h) => {
        await this.request(h, (id) => ({ t: 'close', id, drainMs }), drainMs + 5000).catch((e: unknown) => log.warn({ err: e, worker: h.index }, 'worker did not stop in time'));
        await h.worker.terminate();
      }),
    );
    for (const p of this.published.values()) p.done?.({ ok: false, error: 'the agent is stopping' });
    this.published.clear();
  }

  private spawn(index: number): Promise<void> {
    const init: WorkerInit = { ...this.opts.init, index, tunnelPort: this.tunnelPort, certs: this.opts.certs(), jwks: this.opts.jwks?.() ?? {}, rateTable: this.opts.rateTable() };
    const worker = new Worker(this.opts.script, { workerData: init });
    const h: Handle = { name: `worker-${index}`, index, worker, booted: false, fd: undefined, asked: new Set() };
    this.handles.set(h.name, h);
    return new Promise((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'booted') {
          h.booted = true;
          this.tunnelPort = m.tunnelPort;
          // Certificates issued while it started, then the running config.
          this.post(h, { t: 'certs', certs: this.opts.certs() });
          this.post(h, { t: 'jwks-all', all: this.opts.jwks?.() ?? {} });
          this.step({ kind: 'join', worker: h.name, now: Date.now() });
          resolve();
        } else this.received(h, m);
      });
      worker.on('error', (err) => log.error({ err, worker: index }, 'proxy worker failed'));
      worker.on('exit', (code) => {
        this.handles.delete(h.name);
        if (!h.booted) reject(new Error(`proxy worker ${index} exited with status ${code} before it started`));
        this.step({ kind: 'exit', worker: h.name, now: Date.now() });
        if (this.closing) return;
        // A scrape or stats call waiting on it goes on with the others (its counters are retired below).
        for (const id of h.asked) this.received(h, { t: 'reply', id, value: undefined, error: `${h.name} exited` });
        if (h.fd !== undefined) this.listenersChanged();
        const last = this.lastScrape.get(h.name);
        this.lastScrape.delete(h.name);
        if (last !== undefined) this.retired.add(last);
        this.exits++;
        log.error({ worker: index, code }, 'proxy worker exited; starting another');
        setTimeout(() => {
          if (!this.closing) this.spawn(index).catch((err: unknown) => log.error({ err, worker: index }, 'restarting the proxy worker failed'));
        }, RESTART_DELAY_MS).unref();
      });
    });
  }

  private received(h: Handle, m: FromWorker): void {
    const now = Date.now();
    switch (m.t) {
      case 'prepared':
        return this.step({ kind: 'prepared', worker: h.name, gen: m.gen, now });
      case 'committed':
        this.step({ kind: 'committed', worker: h.name, gen: m.gen, now });
        // A worker started after the listeners opened listens once it runs a config.
        if (h.fd === undefined && this.listenPort !== undefined) void this.listenOn(h).catch((err: unknown) => log.error({ err, worker: h.index }, 'opening the outbound listener failed'));
        return;
      case 'rejected':
        // A config being published is refused as a whole (the caller logs why); a running config a
        // joining worker cannot install leaves that worker without one, which only this log says.
        if (this.state.pending?.gen !== m.gen) log.error({ worker: h.index, gen: m.gen, error: m.error }, 'a starting worker could not install the running config; it serves nothing until the next config');
        return this.step({ kind: 'rejected', worker: h.name, gen: m.gen, error: m.error, now });
      case 'jwks-refresh':
        return this.opts.onJwksRefresh?.(m.uri);
      case 'ejected':
        // An endpoint ejected anywhere is ejected everywhere (each within its own maxEjectionPercent).
        for (const o of this.handles.values()) if (o !== h && o.booted) this.post(o, { t: 'eject', ejection: m.ejection });
        return;
      case 'reply': {
        const r = this.replies.get(m.id);
        this.replies.delete(m.id);
        r?.(m);
        return;
      }
    }
  }

  private step(e: Parameters<typeof step>[1]): void {
    const r = step(this.state, e);
    this.state = r.state;
    for (const eff of r.effects) this.effect(eff);
  }

  private effect(eff: Effect): void {
    if ('send' in eff) {
      const p = this.published.get(eff.gen);
      for (const name of eff.to) {
        const h = this.handles.get(name);
        if (h === undefined) continue;
        if (eff.send === 'prepare' || eff.send === 'install') {
          if (p !== undefined) this.post(h, { t: eff.send, gen: eff.gen, config: p.config, partial: p.partial, rateTable: p.rateTable });
        } else this.post(h, { t: eff.send, gen: eff.gen });
      }
      return;
    }
    if (eff.outcome === 'applied') return this.settle(eff.gen, { ok: true });
    if (eff.outcome === 'rejected') return this.settle(eff.gen, { ok: false, error: `worker ${eff.worker}: ${eff.error}` });
    // timeout
    const names = eff.workers.join(', ');
    if (eff.phase === 'prepare') return this.settle(eff.gen, { ok: false, error: `${names} did not prepare the config in time` });
    log.error({ workers: eff.workers, gen: eff.gen }, 'workers did not switch to the new config in time; restarting them');
    for (const n of eff.workers) void this.handles.get(n)?.worker.terminate();
    this.settle(eff.gen, { ok: true });
  }

  /** Resolves a publish; the newest applied generation stays (for workers that start later). */
  private settle(gen: number, o: Outcome | undefined): void {
    const p = this.published.get(gen);
    if (p === undefined) return;
    p.done?.(o ?? { ok: false, error: 'superseded by a newer config' });
    if (o?.ok) {
      for (const g of this.published.keys()) if (g < gen) this.published.delete(g);
      this.published.set(gen, { config: p.config, partial: p.partial, rateTable: p.rateTable });
    } else this.published.delete(gen);
  }

  private post(h: Handle, m: ToWorker): void {
    h.worker.postMessage(m);
  }

  /**
   * Pings every running worker once a second; one whose event loop is stuck (it still holds its place
   * in the reuseport group, so the kernel keeps giving it connections) is terminated and replaced.
   */
  private ping(): void {
    const limit = this.opts.livenessTimeoutMs ?? this.opts.phaseTimeoutMs ?? 15_000;
    for (const h of this.handles.values()) {
      if (!h.booted || this.pinging.has(h)) continue;
      this.pinging.add(h);
      this.request(h, (id) => ({ t: 'ping', id }), limit).then(
        () => this.pinging.delete(h),
        () => {
          this.pinging.delete(h);
          if (this.closing || this.handles.get(h.name) !== h) return;
          log.error({ worker: h.index, timeoutMs: limit }, 'proxy worker did not answer for too long (its event loop is stuck); replacing it');
          void h.worker.terminate();
        },
      );
    }
  }

  private request(h: Handle, make: (id: number) => ToWorker, timeoutMs = 30_000): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(id);
        h.asked.delete(id);
        reject(new Error(`${h.name} did not answer in ${timeoutMs} ms`));
      }, timeoutMs).unref();
      h.asked.add(id);
      this.replies.set(id, (m) => {
        clearTimeout(timer);
        h.asked.delete(id);
        if (m.error !== undefined) reject(new Error(m.error));
        else resolve(m.value);
      });
      this.post(h, make(id));
    });
  }
}
