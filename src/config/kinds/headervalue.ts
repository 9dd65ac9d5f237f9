// Header values of VirtualService `headers` operations, read as Envoy reads them: `%%` is a literal
// `%`, and `%NAME%` or `%NAME(args)%` is a variable the proxy would substitute per request. nodemesh
// sets header values literally, so a variable is refused with the way out, and an unescaped `%` is an
// error as in Istio's validation (pkg/config/validation/header_value_validator.go).
import type { HeaderRules } from '../traffic';

/** Variables Envoy substitutes in header values (the ones Istio documents and users write). */
const KNOWN_VARIABLES = [
  'DOWNSTREAM_REMOTE_ADDRESS', 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT', 'DOWNSTREAM_LOCAL_ADDRESS',
  'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT', 'DOWNSTREAM_LOCAL_PORT', 'DOWNSTREAM_PEER_URI_SAN',
  'DOWNSTREAM_LOCAL_URI_SAN', 'UPSTREAM_HOST', 'UPSTREAM_REMOTE_ADDRESS', 'UPSTREAM_METADATA', 'REQ', 'RESP',
  'START_TIME', 'PROTOCOL', 'HOSTNAME', 'HOST', 'REQUEST_ID', 'PER_REQUEST_STATE', 'ENVIRONMENT',
];

export type HeaderValue = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly problem: string };

/** The literal value of RAW (with `%%` unescaped), or why it cannot be set as is. */
export function readHeaderValue(raw: string): HeaderValue {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i];
    if (ch !== '%') {
      out += ch;
      continue;
    }
    if (raw[i + 1] === '%') {
      out += '%';
      i++;
      continue;
    }
    const end = raw.indexOf('%', i + 1);
    const name = /^[A-Z_]+/.exec(raw.slice(i + 1))?.[0] ?? '';
    if (end < 0 || name === '' || !/^[A-Z_]+(\(.*\))?$/s.test(raw.slice(i + 1, end))) {
      return { ok: false, problem: `unescaped "%" at position ${i} of ${JSON.stringify(raw)}: write "%%" for a literal "%"` };
    }
    const what = KNOWN_VARIABLES.includes(name) ? 'an Envoy header variable' : 'not a known header variable';
    return {
      ok: false,
      problem: `%${name}% is ${what}: variables are not substituted by this nodemesh version (values are set literally; write "%%" for a literal "%")`,
    };
  }
  return { ok: true, value: out };
}

/** RULES without a `request.set[":authority"]`, and that authority (undefined when not set). */
export function takeAuthority(rules: HeaderRules | undefined): { readonly rules: HeaderRules | undefined; readonly authority: string | undefined } {
  const set = rules?.request?.set;
  if (rules === undefined || set === undefined || !Object.hasOwn(set, ':authority')) return { rules, authority: undefined };
  const { [':authority']: authority, ...rest } = set;
  const request = { ...rules.request, set: rest };
  return { rules: { ...rules, request }, authority };
}
