// Value formats shared by the kinds. Each check returns a problem to report, or undefined when fine.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes object names: DNS-1123 subdomain (lowercase labels joined by dots, at most 253 chars). */
export function checkObjectName(s: string): string | undefined {
  if (s.length <= 253 && s.split('.').every((l) => DNS1123_LABEL.test(l))) return undefined;
  return `"${s}" is not a valid name (lowercase letters, digits, '-' and '.', starting and ending alphanumeric)`;
}

/** Namespaces are DNS-1123 labels: no dots, at most 63 chars. */
export function checkNamespace(s: string): string | undefined {
  if (s.length <= 63 && DNS1123_LABEL.test(s)) return undefined;
  return `"${s}" is not a valid namespace (lowercase letters, digits and '-', at most 63)`;
}

/**
 * Service hosts: DNS names, optionally with a leading `*` wildcard as in Istio: `*.example.com`, or a
 * partial wildcard like `*-api.example.com` (any name ending so).
 */
export function checkHost(s: string): string | undefined {
  const name = s.startsWith('*.') ? s.slice(2) : s.startsWith('*') && s.length > 1 ? `x${s.slice(1)}` : s;
  const labels = name.toLowerCase().split('.');
  if (name.length > 0 && name.length <= 253 && labels.every((l) => l.length <= 63 && DNS1123_LABEL.test(l))) return undefined;
  return `"${s}" is not a valid host (a DNS name, optionally starting with "*.")`;
}

/** Dotted-quad IPv4 without leading zeros (which some parsers read as octal). */
export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

export function checkIPv4(s: string): string | undefined {
  return isIPv4(s) ? undefined : `"${s}" is not an IPv4 address`;
}

/** ServiceEntry addresses: an IPv4 address, or the same as a /32 (a single VIP). */
export function vipOf(s: string): string | undefined {
  const ip = s.endsWith('/32') ? s.slice(0, -3) : s;
  return isIPv4(ip) ? ip : undefined;
}

/**
 * Why IP cannot be a destination a client connects to (a VIP or an endpoint), or undefined: the
 * unspecified address reaches the local host, broadcast and multicast are not TCP destinations.
 */
export function unroutable(ip: string): string | undefined {
  if (ip === '0.0.0.0') return 'the unspecified address 0.0.0.0 (it reaches the local host, not a service)';
  if (ip === '255.255.255.255') return 'the broadcast address 255.255.255.255';
  const first = Number(ip.split('.')[0]);
  if (first >= 224 && first <= 239) return `a multicast address (224.0.0.0/4)`;
  return undefined;
}

// Kubernetes label syntax (apimachinery's IsQualifiedName and IsValidLabelValue).
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_MAX = 63;
const LABEL_PREFIX_MAX = 253;

/** Label keys: `[prefix/]name`, name at most 63 of [A-Za-z0-9._-] (alphanumeric at both ends), prefix a DNS subdomain. */
export function checkLabelKey(key: string): string | undefined {
  if (key === '') return 'empty label key';
  const slash = key.indexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > LABEL_PREFIX_MAX || checkObjectName(prefix) !== undefined)) {
    return `label key ${quoted(key)}: the prefix before "/" must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most ${LABEL_PREFIX_MAX})`;
  }
  if (name.length > LABEL_MAX) return `label key ${quoted(key)}: the name is ${name.length} characters long, at most ${LABEL_MAX}`;
  if (!LABEL_NAME.test(name)) {
    return `label key ${quoted(key)}: the name must be letters, digits, '-', '_' and '.', starting and ending alphanumeric`;
  }
  return undefined;
}

/** Label values: empty, or at most 63 of [A-Za-z0-9._-], alphanumeric at both ends. */
export function checkLabelValue(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > LABEL_MAX) return `label value is ${value.length} characters long, at most ${LABEL_MAX}`;
  if (!LABEL_NAME.test(value)) {
    return `label value ${quoted(value)} is invalid: letters, digits, '-', '_' and '.', starting and ending alphanumeric`;
  }
  return undefined;
}

/** A value for a message: JSON-quoted (control characters escaped) and cut, so a 30 MB value stays one line. */
export function quoted(s: string, max = 40): string {
  return s.length <= max ? JSON.stringify(s) : `${JSON.stringify(s.slice(0, max))}… (${s.length} characters)`;
}
