// What the kernel maps should hold for a config: pure, so a reload can be diffed against the maps
// and table-tested without a kernel.
import { endpointPort, type MeshConfig } from '../config/model';
import { backendKey, backendVal, MODE, svcKey, svcVal } from './layout';

/** Kernel mode balances over at most this many endpoints per service port (nm_backend_key.index is u16). */
export const MAX_KERNEL_BACKENDS = 1024;

export interface MapPlan {
  /** hex(key) → [key, value] */
  readonly services: Map<string, [Buffer, Buffer]>;
  readonly backends: Map<string, [Buffer, Buffer]>;
  readonly serviceIds: Set<number>;
}

export function planMaps(config: MeshConfig): MapPlan {
  const services = new Map<string, [Buffer, Buffer]>();
  const backends = new Map<string, [Buffer, Buffer]>();
  const serviceIds = new Set<number>();
  for (const svc of config.services) {
    serviceIds.add(svc.id);
    const kernel = svc.dataplane === 'kernel';
    for (const port of svc.ports) {
      let count = 0;
      // Proxy-mode services have their endpoints here too: connect4 falls back to them while no agent
      // listens (a crash, or the gap between two agents), instead of refusing the pod's connect.
      for (const ep of svc.endpoints) {
        if (count >= MAX_KERNEL_BACKENDS) break;
        const target = endpointPort(ep, port);
        const k = backendKey(svc.id, port.number, count);
        backends.set(k.toString('hex'), [k, backendVal({ address: ep.address, port: target })]);
        count++;
      }
      for (const vip of svc.addresses) {
        const k = svcKey(vip, port.number);
        const v = svcVal({ serviceId: svc.id, mode: kernel ? MODE.kernel : MODE.proxy, backendCount: count });
        services.set(k.toString('hex'), [k, v]);
      }
    }
  }
  return { services, backends, serviceIds };
}

/** nm_meshed's default capacity (NM_MAX_MESHED in maps.h); the map's own max_entries is the limit (--max-meshed-pods). */
export const MAX_MESHED = 16384;

export interface MeshedPlan {
  readonly add: bigint[];
  readonly remove: bigint[];
}

/**
 * How to make nm_meshed equal `want` from `current` by difference: entries that stay are never touched,
 * so a pod that stays in the mesh never sees a gap. Duplicates in `want` count once.
 */
export function planMeshed(current: Iterable<bigint>, want: Iterable<bigint>): MeshedPlan {
  const have = new Set(current);
  const next = new Set(want);
  return { add: [...next].filter((id) => !have.has(id)), remove: [...have].filter((id) => !next.has(id)) };
}
