// Node-level metrics the agent owns: the kernel's per-service counters (read from the pinned maps at
// scrape time, so kernel-mode services that never touch the agent are counted too), datapath events,
// map occupancy, and the config reload state that Prometheus/CoreDNS users alert on.
import { Counter, Gauge, type Registry } from './promlite';
import type { Datapath } from '../capture/types';
import type { Service } from '../config/model';

export interface NodeMetricsSource {
  datapath(): Datapath | undefined;
  /** Services of the current config by id, for labels. */
  serviceById(id: number): Service | undefined;
  /** Node-wide datapath event counters (eBPF only). */
  datapathEvents?(): Record<string, number>;
}

const SVC_LABELS = ['destination_service', 'destination_service_name', 'destination_service_namespace', 'dataplane'] as const;

export class NodeMetrics {
  readonly reloadOk: Gauge;
  readonly reloadTimestamp: Gauge;
  readonly reloads: Counter<'result'>;
  readonly readErrors: Counter<'error'>;

  constructor(registry: Registry, src: NodeMetricsSource) {
    const labelsFor = (id: number): Record<(typeof SVC_LABELS)[number], string> => {
      const s = src.serviceById(id);
      return {
        destination_service: s?.hosts[0] ?? 'unknown',
        destination_service_name: s?.name ?? `id-${id}`,
        destination_service_namespace: s?.namespace ?? 'unknown',
        dataplane: s?.dataplane ?? 'unknown',
      };
    };
    // One read of each kernel map per scrape feeds every family (the families are collected one by one).
    const counters = memo(() => src.datapath()?.counters() ?? []);
    const maps = memo(() => src.datapath()?.maps() ?? []);
    const kernel = (name: string, help: string, pick: (c: ReturnType<Datapath['counters']>[number]) => number): void => {
      const cfg = { name, help, labelNames: SVC_LABELS, registers: [registry] };
      // The kernel keeps the totals: each scrape re-reads them (a counter type, so rate() works).
      if (name.endsWith('_total')) {
        new Counter({
          ...cfg,
          collect() {
            this.reset();
            for (const c of counters()) this.inc(labelsFor(c.serviceId), pick(c));
          },
        });
        return;
      }
      new Gauge({
        ...cfg,
        collect() {
          this.reset();
          for (const c of counters()) this.set(labelsFor(c.serviceId), pick(c));
        },
      });
    };
    kernel('nodemesh_kernel_connections_opened_total', 'Connections established to a service, counted by sockops', (c) => c.opened);
    kernel('nodemesh_kernel_connections_closed_total', 'Connections to a service closed, counted by sockops', (c) => c.closed);
    kernel('nodemesh_kernel_connections_active', 'Connections to a service currently open (opened - closed)', (c) => Math.max(0, c.opened - c.closed));
    kernel('nodemesh_kernel_sent_bytes_total', 'Bytes sent by clients of a service (TCP path + spliced)', (c) => c.bytesSent);
    kernel('nodemesh_kernel_received_bytes_total', 'Bytes received by clients of a service (TCP path + spliced)', (c) => c.bytesReceived);
    kernel('nodemesh_kernel_redirected_total', 'connect() calls rewritten by connect4 (to the agent or, kernel mode, to an endpoint)', (c) => c.redirected);
    kernel('nodemesh_kernel_spliced_bytes_total', 'Bytes moved socket-to-socket by sk_msg', (c) => c.splicedBytes);

    new Counter({
      name: 'nodemesh_datapath_events_total',
      help: 'Node-wide eBPF datapath events (connect4 decisions, sockhash inserts, sk_msg redirects)',
      labelNames: ['event'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [event, v] of Object.entries(src.datapathEvents?.() ?? {})) this.inc({ event }, v);
      },
    });
    new Gauge({
      name: 'nodemesh_map_entries',
      help: 'Entries in each pinned eBPF map',
      labelNames: ['map'],
      registers: [registry],
      collect() {
        this.reset();
        for (const m of maps()) this.set({ map: m.name }, m.entries);
      },
    });
    new Gauge({
      name: 'nodemesh_map_capacity',
      help: 'max_entries of each pinned eBPF map',
      labelNames: ['map'],
      registers: [registry],
      collect() {
        this.reset();
        for (const m of maps()) this.set({ map: m.name }, m.maxEntries);
      },
    });
    this.reloadOk = new Gauge({ name: 'nodemesh_config_last_reload_successful', help: '1 if the last config load was applied, 0 if it was rejected', registers: [registry] });
    this.reloadTimestamp = new Gauge({ name: 'nodemesh_config_last_reload_success_timestamp_seconds', help: 'Time of the last applied config', registers: [registry] });
    this.reloads = new Counter({ name: 'nodemesh_config_reloads_total', help: 'Config loads by result (applied, rejected)', labelNames: ['result'], registers: [registry] });
    // Not a reload result: the config was not read, so nothing about it is known (retried with backoff).
    this.readErrors = new Counter({ name: 'nodemesh_config_read_errors_total', help: 'Config reads that failed with an I/O error (EMFILE, EACCES, EIO...), by errno; the read is retried', labelNames: ['error'], registers: [registry] });
  }

  configReadFailed(errno: string | undefined): void {
    this.readErrors.inc({ error: errno ?? 'unknown' });
  }

  reloaded(ok: boolean): void {
    this.reloadOk.set(ok ? 1 : 0);
    this.reloads.inc({ result: ok ? 'applied' : 'rejected' });
    if (ok) this.reloadTimestamp.set(Date.now() / 1000);
  }
}

/** Caches a read for a second: one scrape collects many families from the same kernel maps. */
function memo<T>(read: () => T, ms = 1000): () => T {
  let at = -Infinity;
  let value: T;
  return () => {
    const now = performance.now();
    if (now - at > ms) {
      value = read();
      at = now;
    }
    return value;
  };
}
