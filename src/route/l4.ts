// Matching connections at L4 (VirtualService tcp[] and tls[] match entries): the service port, the
// address the client dialled, the client workload and, for TLS, the ClientHello's server name. Pure;
// entries are compiled once per config into closures.
import { parseIpBlock, ipv4ToInt } from '../config/kinds/security';
import { isIPv4 } from '../config/formats';
import type { L4Match, TlsMatch } from '../config/traffic';

/** What a connection offers to L4 matching. */
export interface ConnView {
  /** The ClientHello's server name, lower-cased; undefined when the connection is not TLS or named none. */
  readonly sni: string | undefined;
  /** The address the client dialled (the service VIP), dotted quad. */
  readonly dst: string;
  readonly sourceLabels: Readonly<Record<string, string>>;
  readonly sourceNamespace: string;
}

export type L4Test = (conn: ConnView, port: number) => boolean;

const ALWAYS: L4Test = () => true;

/**
 * SNI matches PATTERN (both lower-case): the same name; `*.example.com` any name below example.com
 * (one or more labels, not example.com itself), as Envoy's server_names; `*` every name.
 */
export function sniMatches(pattern: string, sni: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return sni.length > pattern.length - 1 && sni.endsWith(pattern.slice(1));
  return sni === pattern;
}

/** One tcp[] or tls[] match entry; a tls entry never matches a connection without SNI. */
export function compileL4Match(m: L4Match | TlsMatch): L4Test {
  const conds: L4Test[] = [];
  if (m.port !== undefined) {
    const want = m.port;
    conds.push((_c, port) => port === want);
  }
  if (m.destinationSubnets !== undefined) {
    const blocks = m.destinationSubnets.map(parseIpBlock).filter((b) => b !== undefined);
    conds.push((c) => {
      if (!isIPv4(c.dst)) return false;
      const ip = ipv4ToInt(c.dst);
      return blocks.some((b) => ((ip & b.mask) >>> 0) === b.network);
    });
  }
  if (m.sourceNamespace !== undefined) {
    const ns = m.sourceNamespace;
    conds.push((c) => c.sourceNamespace === ns);
  }
  const labels = Object.entries(m.sourceLabels ?? {});
  if (labels.length > 0) conds.push((c) => labels.every(([k, v]) => c.sourceLabels[k] === v));
  if ('sniHosts' in m) {
    const hosts = m.sniHosts;
    conds.push((c) => c.sni !== undefined && hosts.some((h) => sniMatches(h, c.sni!)));
  }
  if (conds.length === 0) return ALWAYS;
  return (c, port) => {
    for (let i = 0; i < conds.length; i++) if (!conds[i]!(c, port)) return false;
    return true;
  };
}

/** A route's entries compiled; an empty list (tcp routes only) matches every connection. */
export function compileL4Matches(entries: readonly (L4Match | TlsMatch)[]): readonly L4Test[] {
  return entries.length === 0 ? [ALWAYS] : entries.map(compileL4Match);
}

/** The first of ROUTES one of whose entries matches CONN on PORT (routes are tried in order). */
export function firstMatch<T extends { readonly tests: readonly L4Test[] }>(routes: readonly T[], conn: ConnView, port: number): T | undefined {
  for (let i = 0; i < routes.length; i++) {
    const tests = routes[i]!.tests;
    for (let j = 0; j < tests.length; j++) if (tests[j]!(conn, port)) return routes[i];
  }
  return undefined;
}
