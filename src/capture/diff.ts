// How to take nm_services / nm_backends / nm_svc_stats from what they hold to what a config plans, in
// place and by difference. Pure (hex keys and values in, an ordered list of writes out), table-tested.
//
// The order keeps three promises while connect4 reads the maps:
//  - a VIP:port that stays is never unmapped (its entry is updated, never deleted and re-added);
//  - a service value never counts backends that are not there: backends are written before the value
//    that needs them, and surplus backends are deleted after the value that stopped counting them;
//  - a map never holds more than max(entries before, entries after), so whenever the new set alone
//    fits the capacity, so does every moment of the change (deletions free room before additions).
import { backendKey, decodeSvcVal, svcKeyPort, svcValDecided, u32 } from './layout';
import type { MapPlan } from './plan';

export type SyncMap = 'nm_services' | 'nm_backends' | 'nm_svc_stats';

/** What the maps hold (hex key → hex value; service values may carry the kernel's cursor). */
export interface MapState {
  readonly services: ReadonlyMap<string, string>;
  readonly backends: ReadonlyMap<string, string>;
  readonly ids: ReadonlySet<number>;
}

export type MapOp =
  | { readonly op: 'put'; readonly map: SyncMap; readonly key: string; readonly value: string; readonly noExist?: true }
  | { readonly op: 'delete'; readonly map: SyncMap; readonly key: string };

export interface SyncPlan {
  readonly ops: MapOp[];
  /** Most entries each map holds at any moment of the change. */
  readonly peak: { readonly services: number; readonly backends: number };
  /** VIPs moved to another service that went without backends for the change (see below). */
  readonly released: number;
  readonly changes: { readonly [m in 'services' | 'backends']: { added: number; updated: number; removed: number } };
}

export interface SyncOptions {
  /** false: a partial view, nothing is deleted (the maps end up holding both sets). */
  readonly prune: boolean;
  /** nm_backends' capacity: decides whether moving VIPs may keep their old backends during the change. */
  readonly backendCapacity?: number;
}

const STATS_ZERO = '00'.repeat(48);
const idKey = (id: number): string => u32(id).toString('hex');

/**
 * The backend keys a service value counts. Both modes: kernel mode balances over them, proxy mode
 * falls back to them while no agent listens.
 */
function counted(keyHex: string, valHex: string): { id: number; keys: string[] } {
  const v = decodeSvcVal(Buffer.from(valHex, 'hex'));
  const port = svcKeyPort(Buffer.from(keyHex, 'hex'));
  return { id: v.serviceId, keys: Array.from({ length: v.backendCount }, (_, i) => backendKey(v.serviceId, port, i).toString('hex')) };
}

/** The same value counting no backends (connect4 then leaves the connect untouched). */
function withoutBackends(valHex: string): string {
  const b = Buffer.from(svcValDecided(valHex).padEnd(24, '0'), 'hex');
  b.writeUInt16LE(0, 6);
  return b.toString('hex');
}

export function planSync(current: MapState, plan: MapPlan, opts: SyncOptions): SyncPlan {
  const want = {
    services: new Map([...plan.services].map(([k, [, v]]) => [k, v.toString('hex')])),
    backends: new Map([...plan.backends].map(([k, [, v]]) => [k, v.toString('hex')])),
  };
  const split = (have: ReadonlyMap<string, string>, next: Map<string, string>, same: (a: string, b: string) => boolean) => ({
    del: opts.prune ? [...have.keys()].filter((k) => !next.has(k)) : [],
    upd: [...next].filter(([k, v]) => have.has(k) && !same(have.get(k)!, v)).map(([k]) => k),
    add: [...next.keys()].filter((k) => !have.has(k)),
  });
  const svc = split(current.services, want.services, (a, b) => svcValDecided(a) === svcValDecided(b));
  const bk = split(current.backends, want.backends, (a, b) => a === b);
  const bkGone = new Set(bk.del);

  // An update is early when every backend its new value counts is there already (same or fewer
  // backends, or another service's that exists); late when it waits for backends still to be added.
  const early: string[] = [];
  const late: string[] = [];
  for (const k of svc.upd) (counted(k, want.services.get(k)!).keys.every((b) => current.backends.has(b)) ? early : late).push(k);
  // Backends the old values of late updates still count (a VIP moving to another service): deleted
  // only after those VIPs have switched.
  const held = new Set<string>();
  const heldIds = new Set<number>();
  for (const k of late) {
    const old = counted(k, current.services.get(k)!);
    heldIds.add(old.id);
    for (const b of old.keys) if (bkGone.has(b)) held.add(b);
  }
  // Holding them may not fit: then the moving VIPs give up their old backends first, counting none
  // until their new ones are in (the VIP stays mapped; connects meanwhile are left untouched).
  const peakHeld = current.backends.size - (bk.del.length - held.size) + bk.add.length;
  const release: string[] = [];
  if (held.size > 0 && opts.backendCapacity !== undefined && peakHeld > opts.backendCapacity) {
    for (const k of late) if (counted(k, current.services.get(k)!).keys.some((b) => held.has(b))) release.push(k);
    held.clear();
  }

  const leavingIds = opts.prune ? [...current.ids].filter((id) => !plan.serviceIds.has(id)) : [];
  const ops: MapOp[] = [];
  const put = (map: SyncMap, key: string, value: string): void => void ops.push({ op: 'put', map, key, value });
  const del = (map: SyncMap, key: string): void => void ops.push({ op: 'delete', map, key });
  for (const k of svc.del) del('nm_services', k);
  for (const k of early) put('nm_services', k, want.services.get(k)!);
  for (const k of release) put('nm_services', k, withoutBackends(current.services.get(k)!));
  // Stats of leaving services go early, to make room; connect4 may recreate one for a VIP that still
  // counts to it until it switches (late), so those are deleted once more after the switch.
  for (const id of leavingIds) del('nm_svc_stats', idKey(id));
  for (const k of bk.del) if (!held.has(k)) del('nm_backends', k);
  for (const k of bk.upd) put('nm_backends', k, want.backends.get(k)!);
  for (const k of bk.add) put('nm_backends', k, want.backends.get(k)!);
  for (const id of plan.serviceIds) if (!current.ids.has(id)) ops.push({ op: 'put', map: 'nm_svc_stats', key: idKey(id), value: STATS_ZERO, noExist: true });
  for (const k of late) put('nm_services', k, want.services.get(k)!);
  for (const k of held) del('nm_backends', k);
  for (const id of leavingIds) if (heldIds.has(id)) del('nm_svc_stats', idKey(id));
  for (const k of svc.add) put('nm_services', k, want.services.get(k)!);

  const afterDeletes = current.backends.size - (bk.del.length - held.size);
  return {
    ops,
    peak: {
      services: Math.max(current.services.size, current.services.size - svc.del.length + svc.add.length),
      backends: Math.max(current.backends.size, afterDeletes + bk.add.length),
    },
    released: release.length,
    changes: {
      services: { added: svc.add.length, updated: svc.upd.length, removed: svc.del.length },
      backends: { added: bk.add.length, updated: bk.upd.length, removed: bk.del.length },
    },
  };
}

/** The state after a plan is applied in full (what the next sync diffs against). */
export function stateOf(plan: MapPlan): MapState {
  return {
    services: new Map([...plan.services].map(([k, [, v]]) => [k, v.toString('hex')])),
    backends: new Map([...plan.backends].map(([k, [, v]]) => [k, v.toString('hex')])),
    ids: new Set(plan.serviceIds),
  };
}
