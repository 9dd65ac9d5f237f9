// The credentials a config's DestinationRules name by `credentialName`. Pure, and apart from the Secret
// watches (secrets.ts) so that reading a config does not load the Kubernetes client.
import type { MeshConfig } from '../config/model';
import type { TrafficPolicy } from '../config/traffic';
import { CredentialStore } from '../upstream/credentials';

export interface CredentialRef {
  readonly namespace: string;
  readonly name: string;
}

/** The credentials CONFIG's DestinationRules name (top level, per port, per subset), once each, sorted. Pure. */
export function credentialRefs(config: MeshConfig): CredentialRef[] {
  const out = new Map<string, CredentialRef>();
  const add = (p: TrafficPolicy | undefined): void => {
    const c = p?.tls?.credential;
    if (c !== undefined) out.set(CredentialStore.key(c.namespace, c.name), c);
  };
  for (const dr of config.traffic?.destinationRules ?? []) {
    add(dr.trafficPolicy);
    dr.portLevel.forEach(add);
    for (const s of dr.subsets) {
      add(s.trafficPolicy);
      s.portLevel.forEach(add);
    }
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => ({ namespace: r.namespace, name: r.name }));
}
