// Kernel map capacities: how many entries each map is created with (--max-services, --max-backends,
// --max-connections, --max-meshed-pods), what a config needs, and what to do with a pinned map of
// another size. Pure: used by the agent (before it touches the maps) and by `nodemesh check`.
import { MeshError } from '../errors';
import type { MapPlan } from './plan';

/** Entries per map group, fixed when the maps are created (bpf_map__set_max_entries before load). */
export interface MapCapacity {
  services: number;
  backends: number;
  connections: number;
  meshedPods: number;
}

/** The sizes compiled into bpf/include/maps.h (NM_MAX_SERVICES, NM_MAX_BACKENDS, NM_MAX_CONNS, NM_MAX_MESHED). */
export const DEFAULT_CAPACITY: Readonly<MapCapacity> = { services: 16384, backends: 65536, connections: 262144, meshedPods: 16384 };

/** Above this a preallocated map costs gigabytes of kernel memory: a typo, not a plan. */
export const MAX_CAPACITY = 1 << 24;

/** The flag that sets each group, for messages. */
export const CAPACITY_FLAGS: Readonly<Record<keyof MapCapacity, string>> = {
  services: '--max-services',
  backends: '--max-backends',
  connections: '--max-connections',
  meshedPods: '--max-meshed-pods',
};

/** Which pinned maps each capacity sizes. Maps not listed keep their compiled size. */
export const CAPACITY_MAPS: Readonly<Record<keyof MapCapacity, readonly string[]>> = {
  services: ['nm_services', 'nm_svc_stats', 'nm_inbound_mode'],
  backends: ['nm_backends'],
  connections: ['nm_cookie_dst', 'nm_orig_dst', 'nm_sockhash'],
  meshedPods: ['nm_meshed'],
};

const GROUPS = Object.keys(CAPACITY_FLAGS) as (keyof MapCapacity)[];

/** Defaults filled in; throws USAGE for a value that is not an integer in 1..MAX_CAPACITY. */
export function resolveCapacity(partial: Partial<MapCapacity> = {}): MapCapacity {
  const out = { ...DEFAULT_CAPACITY };
  for (const g of GROUPS) {
    const v = partial[g];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 1 || v > MAX_CAPACITY) {
      throw new MeshError('USAGE', `${CAPACITY_FLAGS[g]} must be an integer from 1 to ${MAX_CAPACITY}, got ${v}`);
    }
    out[g] = v;
  }
  return out;
}

/** max_entries per map name for a capacity. */
export function mapSizes(c: MapCapacity): Map<string, number> {
  const out = new Map<string, number>();
  for (const g of GROUPS) for (const name of CAPACITY_MAPS[g]) out.set(name, c[g]);
  return out;
}

/** The capacity the maps actually have, from their max_entries (the smallest map of a group wins). */
export function capacityOf(maxEntries: (name: string) => number | undefined): MapCapacity {
  const out = { ...DEFAULT_CAPACITY };
  for (const g of GROUPS) {
    const sizes = CAPACITY_MAPS[g].map(maxEntries).filter((n): n is number => n !== undefined);
    if (sizes.length > 0) out[g] = Math.min(...sizes);
  }
  return out;
}

export interface PinnedSize {
  readonly map: string;
  readonly pinned: number;
  readonly requested: number;
}

/**
 * Sizes to create the maps with, given what is already pinned. A pinned map keeps its size: libbpf
 * reuses a pin only when max_entries matches, and replacing the map would drop the state a restart
 * must keep (connections in flight, kernel-mode services, counters). The differences are returned so
 * the caller can say that the new size applies after `nodemesh uninstall`.
 */
export function sizesWithPins(requested: ReadonlyMap<string, number>, pinned: (name: string) => number | undefined): { sizes: Map<string, number>; kept: PinnedSize[] } {
  const sizes = new Map<string, number>();
  const kept: PinnedSize[] = [];
  for (const [map, want] of requested) {
    const have = pinned(map);
    sizes.set(map, have ?? want);
    if (have !== undefined && have !== want) kept.push({ map, pinned: have, requested: want });
  }
  return { sizes, kept };
}

/** Entries a config needs in the capacity-bound maps. */
export interface MapNeeds {
  /** nm_services entries: one per VIP × port. */
  readonly serviceEntries: number;
  /** nm_svc_stats entries: one per service id. */
  readonly serviceIds: number;
  /** nm_backends entries: endpoints × ports (at most MAX_KERNEL_BACKENDS per service port). */
  readonly backends: number;
}

export const mapNeeds = (plan: MapPlan): MapNeeds => ({ serviceEntries: plan.services.size, serviceIds: plan.serviceIds.size, backends: plan.backends.size });

/**
 * One message naming every capacity the needs exceed, with the numbers and the flag to raise; undefined
 * when everything fits. NOTE is appended (e.g. that the capacity comes from pinned maps).
 */
export function capacityProblem(needs: MapNeeds, cap: Pick<MapCapacity, 'services' | 'backends'>, note = ''): string | undefined {
  const parts: string[] = [];
  const services = Math.max(needs.serviceEntries, needs.serviceIds);
  if (services > cap.services) {
    const what = needs.serviceEntries >= needs.serviceIds ? 'nm_services entries (VIP × port)' : 'nm_svc_stats entries (services)';
    parts.push(`${services} ${what} needed, capacity ${cap.services}: raise ${CAPACITY_FLAGS.services} to at least ${services}`);
  }
  if (needs.backends > cap.backends) {
    parts.push(`${needs.backends} nm_backends entries (endpoints × ports) needed, capacity ${cap.backends}: raise ${CAPACITY_FLAGS.backends} to at least ${needs.backends}`);
  }
  return parts.length === 0 ? undefined : `${parts.join('; ')}${note}`;
}
