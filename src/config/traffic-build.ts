// The cross-document pass for traffic management: resolves VirtualService, DestinationRule and
// LocalRateLimit hosts to services, checks destinations (ports, subsets) and rate-limited routes, and
// refuses what Istio would resolve by creation time (two VirtualServices or two DestinationRules for one
// service), since a config has no creation times to tell which one wins. A host or subset that only a
// document dropped as a duplicate defines gets no error of its own: the duplicate's error says what to fix.
import { mostSpecific, wildcardRank } from './drhosts';
import type { Service } from './model';
import type { Destination, DestinationRule, HttpRoute, LocalRateLimit, TcpRoute, TlsRoute, TrafficConfig, VirtualService } from './traffic';
import type { Origin, Parsed, ParsedDestinationRule, ParsedHealthCheck, ParsedRateLimit, ParsedVirtualService } from './kinds/types';
import { resolveHealthChecks } from './healthcheck-build';

export type Report = (o: Origin, field: string, message: string) => void;

const KERNEL = 'uses the kernel dataplane (connections to it are balanced in the kernel and never reach the agent)';

/**
 * The traffic config of PARSED; undefined when the config has no traffic documents at all. DROPPED are
 * documents left out as duplicates (already reported).
 */
export function buildTraffic(parsed: readonly Parsed[], services: readonly Service[], report: Report, warn: Report = report, dropped: readonly Parsed[] = []): TrafficConfig | undefined {
  const vss = parsed.filter((p): p is ParsedVirtualService => p.kind === 'VirtualService');
  const drs = parsed.filter((p): p is ParsedDestinationRule => p.kind === 'DestinationRule');
  const limits = parsed.filter((p): p is ParsedRateLimit => p.kind === 'LocalRateLimit');
  const checks = parsed.filter((p): p is ParsedHealthCheck => p.kind === 'HealthCheck');
  if (vss.length + drs.length + limits.length + checks.length === 0) return undefined;
  const hosts = new HostIndex(services);
  const shadow = new Shadow(dropped, hosts);
  const single = (host: string, namespace: string, port: number | undefined, say: (m: string) => void, consequence: string): Service | undefined =>
    singleService(hosts, shadow, host, namespace, port, say, consequence);
  // A path read by Fields already includes the object's root, so it is reported as is.
  const reportAt = (o: Origin, path: string, message: string): void => report({ ...o, root: '' }, path, message);

  const rules = new Map<string, ParsedDestinationRule>();
  const destinationRules: DestinationRule[] = [];
  for (const dr of drs) {
    if (dr.rule.host.startsWith('*')) continue; // wildcard hosts below: an exact host wins over them
    const s = single(dr.rule.host, dr.rule.namespace, undefined, (m) => report(dr.origin, 'spec.host', m), 'this DestinationRule would never apply');
    if (s === undefined) continue;
    const first = rules.get(s.key);
    if (first !== undefined) {
      // Istio merges DestinationRules for one host: subsets are added (the first of a name wins), and the
      // first rule's traffic policy applies (a later one's only when the first has none).
      const merged = mergeRules(first.rule, dr.rule);
      const at = destinationRules.findIndex((r) => r.service === s.key);
      if (at >= 0) destinationRules[at] = { ...merged, service: s.key };
      rules.set(s.key, { ...first, rule: merged });
      warn(dr.origin, 'spec.host', `service ${s.key} already has ${where(first.origin)}: merged into it as Istio does (its subsets added; the first rule's traffic policy applies); keep one rule per host to avoid surprises`);
      continue;
    }
    rules.set(s.key, dr);
    if (s.dataplane === 'kernel') report(dr.origin, 'spec.host', `service ${s.key} ${KERNEL}, so this DestinationRule would never apply`);
    for (const p of dr.ports) {
      if (!s.ports.some((q) => q.number === p.value)) reportAt(dr.origin, p.path, `service ${s.key} has no port ${p.value} (ports: ${portList(s)})`);
    }
    destinationRules.push({ ...dr.rule, service: s.key });
  }
  wildcardRules(drs, services, rules, destinationRules, report, reportAt, warn);

  const routed = new Map<string, ParsedVirtualService>();
  const virtualServices: VirtualService[] = [];
  for (const vs of vss) {
    for (const n of vs.unreachable ?? []) warn({ ...vs.origin, root: '' }, n.field, n.message);
    const others = vs.gateways?.others ?? [];
    if (others.length > 0) {
      const list = others.join(', ');
      if (vs.gateways?.mesh === false) {
        warn(vs.origin, 'spec.gateways', `bound to gateways ${list} only: not served by the node agent (it routes mesh traffic; add "mesh" to apply it there)`);
        continue;
      }
      warn(vs.origin, 'spec.gateways', `the part for gateways ${list} is not served by the node agent (it routes mesh traffic); the mesh part applies`);
    }
    const keys = new Set<string>();
    for (const h of vs.hosts) {
      const found = hosts.resolve(h.value, vs.namespace);
      if (found.length === 0 && !shadow.hasHost(h.value, vs.namespace)) reportAt(vs.origin, h.path, `host ${h.value} matches no ServiceEntry host; its routes would never be used (${suggestEntry(h.value, vs.namespace)})`);
      for (const s of found) {
        if (s.dataplane === 'kernel') reportAt(vs.origin, h.path, `service ${s.key} ${KERNEL}, so this VirtualService would never apply`);
        keys.add(s.key);
      }
    }
    for (const key of [...keys]) {
      const first = routed.get(key);
      if (first === undefined) routed.set(key, vs);
      else if (first !== vs) {
        // As Istio's sidecars do: for one host in the mesh, the oldest VirtualService applies (config order
        // stands for creation time) and the others are ignored for it; only gateways merge them.
        keys.delete(key);
        warn(vs.origin, 'spec.hosts', `service ${key} is already routed by ${where(first.origin)}, which comes first and applies; this VirtualService is ignored for it, as Istio does in the mesh (merge their routes into one VirtualService)`);
      }
    }
    const resolved = new Map<Destination, Destination>();
    for (const [d, path] of vs.destinations) {
      const r = resolveDestination(single, rules, shadow, d, path, vs.namespace, keys, (p, m) => reportAt(vs.origin, p, m));
      if (r !== undefined) resolved.set(d, r);
    }
    const fix = (d: Destination): Destination => resolved.get(d) ?? d;
    virtualServices.push({
      name: vs.name,
      namespace: vs.namespace,
      services: [...keys].sort(compare),
      http: vs.http.map((r): HttpRoute => ({
        ...r,
        ...(r.route !== undefined ? { route: r.route.map((w) => ({ ...w, destination: fix(w.destination) })) } : {}),
        mirrors: r.mirrors.map((m) => ({ ...m, destination: fix(m.destination) })),
      })),
      tcp: vs.tcp.map((r): TcpRoute => ({ ...r, route: r.route.map((w) => ({ ...w, destination: fix(w.destination) })) })),
      ...(vs.tls !== undefined ? { tls: vs.tls.map((r): TlsRoute => ({ ...r, route: r.route.map((w) => ({ ...w, destination: fix(w.destination) })) })) } : {}),
    });
  }

  const rateLimits: LocalRateLimit[] = [];
  for (const l of limits) {
    const { port, route } = l.limit;
    const s = single(l.host, l.limit.namespace, port, (m) => report(l.origin, 'spec.host', m), 'this limit would never apply');
    if (s === undefined) continue;
    if (s.dataplane === 'kernel') report(l.origin, 'spec.host', `service ${s.key} ${KERNEL}, so this limit would never apply`);
    if (port !== undefined && !s.ports.some((q) => q.number === port)) report(l.origin, 'spec.port', `service ${s.key} has no port ${port} (ports: ${portList(s)})`);
    const vs = routed.get(s.key);
    if (route !== undefined && vs === undefined) {
      report(l.origin, 'spec.route', `no VirtualService routes service ${s.key}, so route "${route}" never applies`);
    } else if (route !== undefined && vs !== undefined && vs.complete && !vs.http.some((r) => r.name === route)) {
      const names = vs.http.map((r) => `"${r.name}"`).join(', ') || 'none';
      report(l.origin, 'spec.route', `unknown route "${route}": VirtualService ${vs.origin.name} has http routes ${names}`);
    }
    rateLimits.push({ ...l.limit, service: s.key });
  }

  const byName = (a: { namespace: string; name: string }, b: { namespace: string; name: string }): number =>
    compare(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`);
  return {
    virtualServices: virtualServices.sort(byName),
    destinationRules: destinationRules.sort(byName),
    rateLimits: rateLimits.sort(byName),
    ...(checks.length > 0 ? { healthChecks: resolveHealthChecks(checks, destinationRules, (host, ns, port, say) => single(host, ns, port, say, 'these checks would never run'), report).sort(byName) } : {}),
  };
}

/**
 * DestinationRules for `*` and `*.suffix`: each proxy-mode service without a rule for its exact host
 * gets the most specific wildcard rule covering one of its hosts (drhosts.ts), as Istio picks it. Two
 * rules for the same wildcard are merged as two for one exact host are; a wildcard that covers no
 * service, or a port no covered service has, is reported.
 */
function wildcardRules(
  drs: readonly ParsedDestinationRule[],
  services: readonly Service[],
  rules: Map<string, ParsedDestinationRule>,
  out: DestinationRule[],
  report: Report,
  reportAt: Report,
  warn: Report,
): void {
  const byHost = new Map<string, ParsedDestinationRule>();
  for (const dr of drs) {
    if (!dr.rule.host.startsWith('*')) continue;
    const first = byHost.get(dr.rule.host);
    if (first === undefined) byHost.set(dr.rule.host, dr);
    else {
      byHost.set(dr.rule.host, { ...first, rule: mergeRules(first.rule, dr.rule), ports: [...first.ports, ...dr.ports] });
      warn(dr.origin, 'spec.host', `host ${dr.rule.host} already has ${where(first.origin)}: merged into it as Istio does (its subsets added; the first rule's traffic policy applies); keep one rule per host to avoid surprises`);
    }
  }
  const wild = [...byHost.values()];
  if (wild.length === 0) return;
  const covered = new Map<ParsedDestinationRule, Service[]>(wild.map((w) => [w, []]));
  const candidates = wild.map((w) => ({ host: w.rule.host, w }));
  for (const s of services) {
    const hit = mostSpecific(candidates, s.hosts)?.w;
    if (hit === undefined) continue;
    covered.get(hit)!.push(s);
    if (rules.has(s.key) || s.dataplane === 'kernel') continue;
    rules.set(s.key, hit);
    out.push({ ...hit.rule, service: s.key });
  }
  for (const [dr, list] of covered) {
    const any = services.some((s) => wildcardRank(dr.rule.host, s.hosts) !== undefined);
    if (!any) report(dr.origin, 'spec.host', `host ${dr.rule.host} matches no ServiceEntry host; this DestinationRule would never apply (add a ServiceEntry, or with Kubernetes discovery a Service, whose host ${dr.rule.host === '*' ? 'is any name' : `ends in ${dr.rule.host.slice(1)}`})`);
    for (const p of list.length > 0 ? dr.ports : []) {
      if (!list.some((s) => s.ports.some((q) => q.number === p.value))) reportAt(dr.origin, p.path, `no service this rule applies to has port ${p.value}`);
    }
  }
}

/**
 * A route or mirror destination: its host must name exactly one service, its port must be one of that
 * service's, and its subset must be defined by the service's DestinationRule. A destination without a
 * port is sent to the port the client connected to, which only works for a service being routed by
 * this VirtualService, or one with a single port.
 */
function resolveDestination(
  single: (host: string, namespace: string, port: number | undefined, say: (m: string) => void, consequence: string) => Service | undefined,
  rules: ReadonlyMap<string, ParsedDestinationRule>,
  shadow: Shadow,
  d: Destination,
  path: string,
  namespace: string,
  routedKeys: ReadonlySet<string>,
  reportAt: (path: string, message: string) => void,
): Destination | undefined {
  const s = single(d.host, namespace, d.port, (m) => reportAt(`${path}.host`, m), 'requests sent to it would fail');
  if (s === undefined) return undefined;
  let ok = true;
  if (d.port !== undefined && !s.ports.some((p) => p.number === d.port)) {
    reportAt(`${path}.port.number`, `service ${s.key} has no port ${d.port} (ports: ${portList(s)})`);
    ok = false;
  }
  if (d.port === undefined && s.ports.length > 1 && !routedKeys.has(s.key)) {
    reportAt(`${path}.port`, `is required: service ${s.key} has several ports (${portList(s)}) and is not a host of this VirtualService`);
    ok = false;
  }
  if (d.subset !== undefined) {
    const dr = rules.get(s.key);
    if (dr?.rule.subsets.some((x) => x.name === d.subset) !== true && shadow.hasSubset(s.key, d.subset)) {
      ok = false; // defined by a rule dropped as a duplicate, which is reported
    } else if (dr === undefined) {
      reportAt(`${path}.subset`, `unknown subset "${d.subset}": no DestinationRule defines subsets for service ${s.key}`);
      ok = false;
    } else if (!dr.rule.subsets.some((x) => x.name === d.subset)) {
      const names = dr.rule.subsets.map((x) => x.name).join(', ') || 'none';
      reportAt(`${path}.subset`, `unknown subset "${d.subset}" (DestinationRule ${dr.origin.name} defines: ${names})`);
      ok = false;
    }
  }
  return ok ? { ...d, service: s.key } : undefined;
}

/** What to add so that HOST names a service: a ServiceEntry, or with Kubernetes discovery a Service. */
function suggestEntry(host: string, namespace: string): string {
  const dots = host.split('.').length - 1;
  const fqdn = dots === 0 ? `${host}.${namespace}.svc.cluster.local` : dots === 1 ? `${host}.svc.cluster.local` : host;
  const parts = fqdn.split('.');
  const service = fqdn.endsWith('.svc.cluster.local') && parts.length === 5 ? ` (or, with Kubernetes discovery, a Service ${parts[0]} in namespace ${parts[1]})` : '';
  return `add a ServiceEntry with hosts: [${fqdn}] and its ports${service}`;
}

/** Istio's DestinationRule merge for one host: FIRST's policy unless it has none; subsets of both, FIRST's on a name clash. */
function mergeRules(first: DestinationRule, next: DestinationRule): DestinationRule {
  const names = new Set(first.subsets.map((s) => s.name));
  const subsets = [...first.subsets, ...next.subsets.filter((s) => !names.has(s.name))];
  const firstHasPolicy = first.trafficPolicy !== undefined || first.portLevel.length > 0;
  if (firstHasPolicy) return { ...first, subsets };
  return { ...first, subsets, ...(next.trafficPolicy !== undefined ? { trafficPolicy: next.trafficPolicy } : {}), portLevel: next.portLevel };
}

/**
 * The one service HOST names (a port, when given, picks among services sharing a host). A host that
 * only a dropped duplicate defines is not reported again.
 */
function singleService(hosts: HostIndex, shadow: Shadow, host: string, namespace: string, port: number | undefined, report: (m: string) => void, consequence: string): Service | undefined {
  if (host.startsWith('*')) {
    report(`"${host}": wildcards are not supported here (name one service)`);
    return undefined;
  }
  let found = hosts.resolve(host, namespace);
  if (found.length > 1 && port !== undefined) found = found.filter((s) => s.ports.some((p) => p.number === port));
  if (found.length === 0 && !shadow.hasHost(host, namespace)) report(`host ${host} matches no ServiceEntry host; ${consequence} (${suggestEntry(host, namespace)})`);
  else if (found.length > 1) report(`host ${host} is ambiguous: it matches services ${found.map((s) => s.key).join(', ')} (give a port)`);
  return found.length === 1 ? found[0] : undefined;
}

/**
 * Host names to services, as Istio reads them: a ServiceEntry host (case-insensitive), a short name
 * `x` or `x.ns` completed with the namespace (`x.<ns>.svc.cluster.local`, `x.ns.svc.cluster.local`),
 * or a wildcard `*.suffix` covering service hosts (and service wildcards covering a name).
 */
export class HostIndex<S extends { readonly hosts: readonly string[] } = Service> {
  private readonly byHost = new Map<string, S[]>();
  private readonly wildcards: { readonly suffix: string; readonly service: S }[] = [];

  constructor(private readonly services: readonly S[]) {
    for (const s of services) {
      for (const h of s.hosts) {
        const host = h.toLowerCase();
        this.byHost.set(host, [...(this.byHost.get(host) ?? []), s]);
        if (host.startsWith('*')) this.wildcards.push({ suffix: host.slice(1), service: s });
      }
    }
  }

  resolve(host: string, namespace: string): S[] {
    const h = host.toLowerCase();
    if (h.startsWith('*')) {
      const suffix = h.slice(1);
      return this.services.filter((s) => s.hosts.some((x) => x.toLowerCase() === h || x.toLowerCase().endsWith(suffix)));
    }
    const dots = h.split('.').length - 1;
    const names = [h, ...(dots === 0 ? [`${h}.${namespace}.svc.cluster.local`] : dots === 1 ? [`${h}.svc.cluster.local`] : [])];
    for (const name of names) {
      const found = this.byHost.get(name);
      if (found !== undefined) return found;
    }
    const covering = this.wildcards.filter((w) => names.some((n) => n.endsWith(w.suffix)));
    return [...new Set(covering.map((w) => w.service))];
  }
}

/** Hosts and subsets that only documents dropped as duplicates define. */
class Shadow {
  private readonly hosts: HostIndex<{ readonly hosts: readonly string[] }>;
  /** Service key → subset names of dropped DestinationRules for it. */
  private readonly subsets = new Map<string, Set<string>>();

  constructor(dropped: readonly Parsed[], services: HostIndex) {
    this.hosts = new HostIndex(dropped.flatMap((p) => (p.kind === 'ServiceEntry' ? [{ hosts: p.hosts.map((h) => h.value) }] : [])));
    for (const p of dropped) {
      if (p.kind !== 'DestinationRule' || p.rule.host.startsWith('*')) continue;
      for (const s of services.resolve(p.rule.host, p.rule.namespace)) {
        const names = this.subsets.get(s.key) ?? new Set<string>();
        for (const x of p.rule.subsets) names.add(x.name);
        this.subsets.set(s.key, names);
      }
    }
  }

  hasHost(host: string, namespace: string): boolean {
    return this.hosts.resolve(host, namespace).length > 0;
  }

  /** NAME is a subset a dropped rule for SERVICE defines. */
  hasSubset(service: string, name: string): boolean {
    return this.subsets.get(service)?.has(name) === true;
  }
}

function portList(s: Service): string {
  return s.ports.map((p) => p.number).join(', ');
}

function where(o: Origin): string {
  return `${o.kind} ${o.name} (${o.file} document ${o.document}${o.root ? ` ${o.root}` : ''})`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
