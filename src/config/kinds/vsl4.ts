// VirtualService `tcp` and `tls` routes: connections routed at L4, by port, destination subnet and
// source, and (tls) by the ClientHello's server name, the TLS passed through unchanged. Validated as
// Istio validates them: a tls route needs match entries, each with sniHosts inside the
// VirtualService's hosts.
import { Fields, PORT_RANGE, type Item } from '../fields';
import { checkHost, checkNamespace } from '../formats';
import type { IssueSink } from '../issues';
import type { L4Match, TcpRoute, TlsMatch, TlsRoute, WeightedDestination } from '../traffic';
import { strip } from './trafficfields';
import { checkIpBlock } from './security';

/** virtualservice.ts's reader of weighted `route` lists (shared with http routes). */
export type ReadWeighted = (r: Fields, key: string, fields: readonly string[]) => WeightedDestination[] | undefined;

const L4_FIELDS = ['port', 'destinationSubnets', 'sourceLabels', 'sourceNamespace', 'gateways'];

/** Whether the VirtualService SPEC serves the mesh: gateways left out, empty, or listing `mesh`. */
export function servesMesh(spec: Fields): boolean {
  const g = spec.raw('gateways');
  return !Array.isArray(g) || g.length === 0 || g.includes('mesh');
}

/** MESH: the VirtualService serves the mesh (its match entries must then not name other gateways only). */
export function readTcpRoute(sink: IssueSink, item: Item, readWeighted: ReadWeighted, mesh = true): TcpRoute {
  const r = Fields.open(sink, item.path, item.value, ['match', 'route']);
  if (r === undefined) return { match: [], route: [] };
  const match = (r.list('match') ?? []).flatMap((m) => {
    const f = Fields.open(sink, m.path, m.value, [...L4_FIELDS, 'sniHosts'], ['sourceSubnet']);
    if (f === undefined) return [];
    if (f.has('sniHosts')) f.report('sniHosts', 'is a condition of tls routes (the TLS server name): move this route under tls');
    return [readL4(f, mesh)];
  });
  const route = readWeighted(r, 'route', ['destination', 'weight']) ?? [];
  return { match, route };
}

/** VS_HOSTS: the VirtualService's hosts, lower-cased, for the sniHosts check. */
export function readTlsRoute(sink: IssueSink, item: Item, vsHosts: readonly string[], namespace: string, readWeighted: ReadWeighted, mesh = true): TlsRoute {
  const r = Fields.open(sink, item.path, item.value, ['match', 'route']);
  if (r === undefined) return { match: [], route: [] };
  const items = r.list('match');
  if (items === undefined || items.length === 0) {
    sink.report(r.at('match'), 'a tls route needs at least one match entry with sniHosts (Istio requires it); to pass every connection through, use a tcp route');
  }
  const match = (items ?? []).flatMap((m): TlsMatch[] => {
    const f = Fields.open(sink, m.path, m.value, [...L4_FIELDS, 'sniHosts']);
    if (f === undefined) return [];
    const sniHosts = readSniHosts(f, vsHosts, namespace);
    return [{ ...readL4(f, mesh), sniHosts }];
  });
  const route = readWeighted(r, 'route', ['destination', 'weight']) ?? [];
  return { match, route };
}

function readL4(f: Fields, mesh: boolean): L4Match {
  const gateways = f.stringList('gateways');
  if (mesh && gateways !== undefined && gateways.length > 0 && !gateways.includes('mesh')) {
    f.report('gateways', 'match entries for other gateways are not supported yet in a VirtualService that serves the mesh: move them into a VirtualService bound to those gateways');
  }
  const subnets = f.stringList('destinationSubnets', { check: checkIpBlock });
  const labels = f.labelMap('sourceLabels');
  return strip({
    port: f.int('port', PORT_RANGE),
    destinationSubnets: subnets !== undefined && subnets.length > 0 ? subnets : undefined,
    sourceLabels: labels !== undefined && Object.keys(labels).length > 0 ? labels : undefined,
    sourceNamespace: f.string('sourceNamespace', { check: checkNamespace }),
  });
}

function readSniHosts(f: Fields, vsHosts: readonly string[], namespace: string): string[] {
  if (!f.has('sniHosts')) {
    f.sink.report(f.path, 'sniHosts is required: a tls match entry must name at least one SNI host (Istio requires it)');
    return [];
  }
  const list = f.stringList('sniHosts', { check: (s) => (s === '*' ? undefined : checkHost(s)) }) ?? [];
  if (list.length === 0 && Array.isArray(f.raw('sniHosts'))) f.report('sniHosts', 'must name at least one SNI host (Istio requires it)');
  const out: string[] = [];
  list.forEach((raw, i) => {
    const sni = raw.toLowerCase();
    if (out.includes(sni)) return f.sink.report(`${f.at('sniHosts')}[${i}]`, `duplicate SNI host ${sni}`);
    out.push(sni);
    if (!vsHosts.some((h) => sniWithin(sni, h, namespace))) {
      f.sink.report(`${f.at('sniHosts')}[${i}]`, `SNI host ${sni} is not within the VirtualService's hosts (${vsHosts.join(', ')}); Istio requires each SNI host to be one of them or covered by a wildcard host`);
    }
  });
  return out;
}

/**
 * Istio's host.Name.SubsetOf: SNI (a name, `*.suffix` or `*`) lies within HOST (`*` holds everything,
 * `*.s` every name below s). A short HOST (`web`, `web.ns`) also counts in its expanded form.
 */
export function sniWithin(sni: string, host: string, namespace: string): boolean {
  const h = host.toLowerCase();
  if (h === '*') return true;
  if (sni === '*') return false;
  if (h.startsWith('*.')) {
    const suffix = h.slice(1); // ".s"
    return (sni.startsWith('*.') ? sni.slice(1) : sni).endsWith(suffix);
  }
  const dots = h.split('.').length - 1;
  const names = [h, ...(dots === 0 ? [`${h}.${namespace}.svc.cluster.local`] : dots === 1 ? [`${h}.svc.cluster.local`] : [])];
  return names.includes(sni);
}
