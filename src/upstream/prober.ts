// Active health checks (nodemesh.io HealthCheck): every interval, with jitter and a bounded number of
// probes in flight, an HTTP GET or a TCP connect to each endpoint of the checked service, straight to
// the endpoint (the agent's own connects are exempt from capture). balance/probe.ts judges the results;
// verdicts go to the balancers' one HealthTable, which every pick consults.
import * as http from 'node:http';
import * as net from 'node:net';
import { Counter, Gauge, type Registry } from '../telemetry/promlite';
import type { HealthTable } from '../balance/health';
import { httpPassed, INITIAL_PROBE, nextProbe, type ProbeState } from '../balance/probe';
import { endpointPort, type MeshConfig, type Service } from '../config/model';
import type { HealthCheck } from '../config/traffic';
import { logger } from '../log';

const log = logger('health');

export interface ProberOptions {
  readonly health: HealthTable;
  readonly registry?: Registry;
  /** Probes in flight at most (all checks together). */
  readonly concurrency?: number;
  /** [0, 1); injectable for tests. */
  readonly random?: () => number;
}

export type ProbeResult = 'healthy' | 'unhealthy';

interface Probed {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  state: ProbeState;
}

interface Running {
  check: HealthCheck;
  service: Service;
  endpoints: Map<string, Probed>;
  timer: NodeJS.Timeout | undefined;
  busy: boolean;
}

const DEFAULT_CONCURRENCY = 16;

export class Prober {
  private readonly running = new Map<string, Running>();
  private readonly queue: (() => void)[] = [];
  private inFlight = 0;
  private readonly concurrency: number;
  private readonly random: () => number;
  private readonly checks: Counter<'service' | 'result'> | undefined;
  private readonly healthy: Gauge<'service' | 'endpoint'> | undefined;
  private stopped = false;

  constructor(private readonly opts: ProberOptions) {
    this.concurrency = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
    this.random = opts.random ?? Math.random;
    const registers = opts.registry !== undefined ? [opts.registry] : [];
    if (opts.registry !== undefined) {
      this.checks = new Counter({ name: 'nodemesh_health_checks_total', help: 'Active health checks (HealthCheck) by result: healthy, unhealthy', labelNames: ['service', 'result'], registers });
      this.healthy = new Gauge({ name: 'nodemesh_endpoint_healthy', help: 'Active health check verdict of an endpoint: 1 healthy, 0 unhealthy', labelNames: ['service', 'endpoint'], registers, aggregator: 'min' });
    }
  }

  /** Starts, changes and stops checks to match CFG; endpoints keep their state while they stay. */
  update(cfg: MeshConfig): void {
    if (this.stopped) return;
    const want = new Map<string, { check: HealthCheck; service: Service }>();
    for (const check of cfg.traffic?.healthChecks ?? []) {
      const service = cfg.services.find((s) => s.key === check.service);
      if (service !== undefined) want.set(`${check.namespace}/${check.name}`, { check, service });
    }
    for (const [name, r] of this.running) if (!want.has(name)) this.drop(name, r);
    for (const [name, w] of want) {
      let r = this.running.get(name);
      const endpoints = this.endpointsOf(w.check, w.service, r?.endpoints);
      if (r !== undefined) {
        for (const [key, p] of r.endpoints) if (!endpoints.has(key)) this.forget(r, p);
        const again = r.check.intervalMs !== w.check.intervalMs;
        r.check = w.check;
        r.service = w.service;
        r.endpoints = endpoints;
        if (again) this.schedule(r, true);
      } else {
        r = { check: w.check, service: w.service, endpoints, timer: undefined, busy: false };
        this.running.set(name, r);
        this.schedule(r, true);
      }
      for (const p of endpoints.values()) this.healthy?.set({ service: w.service.key, endpoint: p.key }, p.state.healthy ? 1 : 0);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const [name, r] of this.running) this.drop(name, r);
    this.queue.length = 0;
  }

  /** The verdicts of a check's endpoints (stats and tests). */
  states(name: string): ReadonlyMap<string, ProbeState> {
    const r = this.running.get(name);
    return new Map([...(r?.endpoints ?? new Map<string, Probed>())].map(([k, p]) => [k, p.state]));
  }

  private endpointsOf(check: HealthCheck, service: Service, prev: Map<string, Probed> | undefined): Map<string, Probed> {
    const port = (check.port !== undefined ? service.ports.find((p) => p.number === check.port) : undefined) ?? service.ports[0];
    const out = new Map<string, Probed>();
    if (port === undefined) return out;
    const sel = check.subsetLabels;
    for (const e of service.endpoints) {
      if (sel !== undefined && !Object.entries(sel).every(([k, v]) => e.labels[k] === v)) continue;
      const p = endpointPort(e, port);
      const key = `${e.address}:${p}`;
      out.set(key, prev?.get(key) ?? { key, address: e.address, port: p, state: INITIAL_PROBE });
    }
    return out;
  }

  private drop(name: string, r: Running): void {
    if (r.timer !== undefined) clearTimeout(r.timer);
    r.timer = undefined;
    for (const p of r.endpoints.values()) this.forget(r, p);
    r.endpoints = new Map();
    this.running.delete(name);
  }

  /** An endpoint no longer checked leaves the health table and the gauge. */
  private forget(r: Running, p: Probed): void {
    if (!p.state.healthy) this.opts.health.setChecked(p.key, true);
    this.healthy?.remove({ service: r.service.key, endpoint: p.key });
  }

  /** Next round after the interval, with up to 10% jitter (the first one within a tenth of it). */
  private schedule(r: Running, first = false): void {
    if (r.timer !== undefined) clearTimeout(r.timer);
    const base = r.check.intervalMs;
    const delay = first ? this.random() * base * 0.1 : base + this.random() * base * 0.1;
    r.timer = setTimeout(() => this.round(r), delay);
    r.timer.unref();
  }

  private round(r: Running): void {
    r.timer = undefined;
    if (this.stopped || this.running.get(`${r.check.namespace}/${r.check.name}`) !== r) return;
    if (r.busy) return this.schedule(r);
    const list = [...r.endpoints.values()];
    let left = list.length;
    if (left === 0) return this.schedule(r);
    r.busy = true;
    for (const p of list) {
      this.limit(async () => {
        const passed = await this.probe(r.check, r.service, p);
        this.record(r, p, passed);
      }).finally(() => {
        if (--left === 0) {
          r.busy = false;
          if (this.running.get(`${r.check.namespace}/${r.check.name}`) === r) this.schedule(r);
        }
      });
    }
  }

  private record(r: Running, p: Probed, passed: boolean): void {
    if (r.endpoints.get(p.key) !== p) return; // gone meanwhile
    this.checks?.inc({ service: r.service.key, result: passed ? 'healthy' : 'unhealthy' });
    const { state, changed } = nextProbe(p.state, passed, r.check);
    p.state = state;
    if (!changed) return;
    this.opts.health.setChecked(p.key, state.healthy);
    this.healthy?.set({ service: r.service.key, endpoint: p.key }, state.healthy ? 1 : 0);
    log.info({ service: r.service.key, endpoint: p.key, check: r.check.name }, state.healthy ? 'endpoint healthy again (active health check)' : 'endpoint unhealthy (active health check)');
  }

  /** Runs FN when fewer than `concurrency` probes are in flight. */
  private limit(fn: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
      const run = (): void => {
        this.inFlight++;
        fn()
          .catch(() => undefined)
          .finally(() => {
            this.inFlight--;
            this.queue.shift()?.();
            resolve();
          });
      };
      if (this.inFlight < this.concurrency) run();
      else this.queue.push(run);
    });
  }

  private probe(check: HealthCheck, service: Service, p: Probed): Promise<boolean> {
    const c = check.check;
    return 'tcp' in c ? tcpProbe(p.address, p.port, check.timeoutMs) : httpProbe(p.address, p.port, service.hosts[0] ?? service.name, c.http.path, c.http.expectedStatuses, check.timeoutMs);
  }
}

export function tcpProbe(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: address, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export function httpProbe(address: string, port: number, host: string, path: string, expected: readonly number[], timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(ok);
    };
    const req = http.request({ host: address, port, path, method: 'GET', agent: false, headers: { host, 'user-agent': 'nodemesh-health-check', connection: 'close' } }, (res) => {
      res.resume();
      done(httpPassed(res.statusCode ?? 0, expected));
    });
    const timer = setTimeout(() => done(false), timeoutMs);
    req.once('error', () => done(false));
    req.end();
  });
}
