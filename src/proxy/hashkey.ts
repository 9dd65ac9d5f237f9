// The consistent-hash key of a request (DestinationRule loadBalancer.consistentHash): a header, a cookie,
// the client IP or a query parameter. A cookie key the request lacks is generated and issued to the
// client with Set-Cookie (path and max-age as configured), so its next requests stick. Pure.
import type { HashKey } from '../config/traffic';
import type { HeaderList } from './types';

export interface HashDecision {
  /** undefined: the request carries no key (the balancer picks as without hashing). */
  readonly key: string | undefined;
  /** A Set-Cookie value to add to the response (cookie keys the request did not have). */
  readonly setCookie?: string;
}

const NONE: HashDecision = { key: undefined };

export interface HashInput {
  header(name: string): string | undefined;
  headers(): HeaderList;
  readonly path: string;
  readonly sourceIp: string;
}

/** `generate` makes a fresh cookie value (random, injected). */
export function hashKeyOf(key: HashKey | undefined, req: HashInput, generate: () => string): HashDecision {
  if (key === undefined) return NONE;
  if ('header' in key) {
    const v = req.header(key.header);
    return v === undefined ? NONE : { key: v };
  }
  if ('sourceIp' in key) return { key: req.sourceIp };
  if ('queryParameter' in key) {
    const v = queryParam(req.path, key.queryParameter);
    return v === undefined ? NONE : { key: v };
  }
  const c = key.cookie;
  const have = cookieValue(req.headers(), c.name);
  if (have !== undefined) return { key: have };
  const value = generate();
  return { key: value, setCookie: setCookieValue(c.name, value, c.path, c.ttlMs) };
}

/** Value of cookie NAME across all Cookie fields (HTTP/2 clients may split them). */
export function cookieValue(headers: HeaderList, name: string): string | undefined {
  for (const [k, v] of headers) {
    if (k !== 'cookie') continue;
    for (const part of v.split(';')) {
      const eq = part.indexOf('=');
      if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
      let val = part.slice(eq + 1).trim();
      if (val.length >= 2 && val.startsWith('"') && val.endsWith('"')) val = val.slice(1, -1);
      return val;
    }
  }
  return undefined;
}

/** As Envoy writes it: quoted value, Max-Age when a TTL is set (none = session cookie), Path, HttpOnly. */
export function setCookieValue(name: string, value: string, path: string | undefined, ttlMs: number): string {
  let s = `${name}="${value}"`;
  if (ttlMs > 0) s += `; Max-Age=${Math.max(1, Math.floor(ttlMs / 1000))}`;
  if (path !== undefined && path !== '') s += `; Path=${path}`;
  return `${s}; HttpOnly`;
}

/** First value of query parameter NAME, percent-decoded ('+' as space); undefined when absent. */
export function queryParam(path: string, name: string): string | undefined {
  const q = path.indexOf('?');
  if (q === -1) return undefined;
  const hash = path.indexOf('#', q);
  const query = path.slice(q + 1, hash === -1 ? undefined : hash);
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const k = decode(eq === -1 ? pair : pair.slice(0, eq));
    if (k === name) return eq === -1 ? '' : decode(pair.slice(eq + 1));
  }
  return undefined;
}

function decode(s: string): string {
  const t = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(t);
  } catch {
    return t;
  }
}
