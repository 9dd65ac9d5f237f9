// Value formats shared by the kinds. Each check returns a problem to report, or undefined when fine.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes object names: DNS-1123 subdomain (lowercase labels joined by dots, at most 253 chars). */
export function checkObjectName(s: string): string | undefined {
  if (s.length <= 253 && s.split('.').every((l) => l.length <= 63 && DNS1123_LABEL.test(l))) return undefined;
  return `"${s}" is not a valid name (lowercase letters, digits, '-' and '.', starting and ending alphanumeric)`;
}

/** Namespaces are DNS-1123 labels: no dots, at most 63 chars. */
export function checkNamespace(s: string): string | undefined {
  if (s.length <= 63 && DNS1123_LABEL.test(s)) return undefined;
  return `"${s}" is not a valid namespace (lowercase letters, digits and '-', at most 63)`;
}

/** Service hosts: DNS names, optionally with a leading `*.` wildcard as in Istio. */
export function checkHost(s: string): string | undefined {
  const name = s.startsWith('*.') ? s.slice(2) : s;
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
