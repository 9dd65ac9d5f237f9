// Routes that can never be chosen: routes are tried in order and the first match wins, so a route after
// one that matches every request, or a match entry already listed by an earlier route, is dead config.
// Istio accepts such routes (only its analyzer warns), so these are warnings: the routes stay in the
// table and are simply never chosen.
import type { Fields } from '../fields';
import type { HttpMatch, HttpRoute, TcpRoute, TlsMatch, TlsRoute } from '../traffic';

/** A warning about a document: FIELD is a full path (it includes the object's root). */
export interface Note {
  readonly field: string;
  readonly message: string;
}

export function checkUnreachable(spec: Fields, http: readonly HttpRoute[], tcp: readonly TcpRoute[], tls: readonly TlsRoute[] = []): Note[] {
  const notes: Note[] = [];
  checkList(notes, spec, 'http', http.map((r) => r.match.map(httpKey)), 'route', 'request');
  checkList(notes, spec, 'tcp', tcp.map((r) => r.match.map((m) => canonical(m))), 'tcp route', 'connection');
  // No tls entry matches everything (each names SNI hosts, and hosts cannot be `*`): only repeats are dead.
  checkList(notes, spec, 'tls', tls.map((r) => r.match.map((m: TlsMatch) => canonical({ ...m, sniHosts: [...m.sniHosts].sort() }))), 'tls route', 'connection');
  return notes;
}

const CATCH_ALL = '{}';

/**
 * ROUTES holds, per route, one canonical key per match entry (CATCH_ALL for an entry without
 * conditions); a route without entries matches everything.
 */
function checkList(notes: Note[], spec: Fields, key: string, routes: readonly (readonly string[])[], what: string, unit: string): void {
  const seen = new Map<string, number>();
  let catchAll: number | undefined;
  routes.forEach((entries, i) => {
    const path = `${spec.at(key)}[${i}]`;
    if (catchAll !== undefined) {
      notes.push({ field: path, message: `${what} ${i} is unreachable: ${what} ${catchAll} before it matches every ${unit}; it is never chosen` });
      return;
    }
    entries.forEach((k, m) => {
      const earlier = seen.get(k);
      if (earlier !== undefined) {
        notes.push({ field: `${path}.match[${m}]`, message: `match entry is unreachable: ${what} ${earlier} before it has the same match; it is never chosen` });
      } else seen.set(k, i);
    });
    if (entries.length === 0 || entries.includes(CATCH_ALL)) catchAll = i;
  });
}

/** A canonical form of the entry's conditions (the name is only a label); CATCH_ALL when it has none. */
function httpKey(m: HttpMatch): string {
  const { name: _name, ignoreUriCase, ...conditions } = m;
  const { uri } = conditions;
  const everyPath = uri !== undefined && (('prefix' in uri && uri.prefix === '/') || ('regex' in uri && uri.regex === '.*'));
  const rest: Record<string, unknown> = { ...conditions };
  if (everyPath) delete rest.uri;
  else if (uri !== undefined && ignoreUriCase === true) rest.ignoreUriCase = true;
  return canonical(rest);
}

function canonical(v: unknown): string {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const entries = Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
}
