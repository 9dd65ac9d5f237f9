// Handing the node from one agent to the next without a refused or reset connection:
//  - every listener binds with SO_REUSEPORT, so a new agent binds beside one that still drains;
//  - the new agent starts accepting only once its config is applied (until then connect4 sends pods
//    to the draining agent, or straight to an endpoint when none listens);
//  - a stopping agent keeps accepting until a successor's listener is in nm_listeners (or its drain
//    time is up), then closes its listener: with tcp_migrate_req the kernel moves connections still
//    in its accept queue to the successor instead of resetting them.
import * as fs from 'node:fs';
import { logger } from './log';
import { isMeshError } from './errors';

const log = logger('handover');

const MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req';

/**
 * Turns on the kernel's migration of a closing reuseport listener's pending connections (Linux 5.14+)
 * in the agent's network namespace. Without it, the connections queued at the old listener when it
 * closes are reset.
 */
export function enableListenerMigration(file = MIGRATE_REQ): boolean {
  try {
    if (fs.readFileSync(file, 'utf8').trim() === '1') return true;
    fs.writeFileSync(file, '1');
    log.info({ sysctl: 'net.ipv4.tcp_migrate_req', value: 1 }, 'pending connections of a closing listener move to the next agent');
    return true;
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'net.ipv4.tcp_migrate_req could not be set: connections queued at a stopping agent may be reset');
    return false;
  }
}

/** Waits until `cond()` holds or `ms` passed; true when it held. */
export async function waitUntil(cond: () => boolean, ms: number, pollMs = 50): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

const inUse = (e: unknown): boolean => {
  const cause = isMeshError(e) ? (e as Error & { cause?: unknown }).cause : e;
  return (cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
};

/**
 * Binds, retrying while the port is held by a process that does not share it (an older agent without
 * SO_REUSEPORT, or a stray one): the node must end up with an agent whatever the order of stop and
 * start, so a busy port is waited for, not a reason to exit. Other errors are thrown at once.
 */
export async function bindRetrying<T>(what: string, bind: () => Promise<T>, opts: { intervalMs?: number; giveUpMs?: number } = {}): Promise<T> {
  const interval = opts.intervalMs ?? 500;
  const giveUp = Date.now() + (opts.giveUpMs ?? Infinity);
  let lastLog = 0;
  for (;;) {
    try {
      return await bind();
    } catch (e) {
      if (!inUse(e) || Date.now() >= giveUp) throw e;
      if (Date.now() - lastLog >= 5000) {
        lastLog = Date.now();
        log.warn({ listener: what, err: (e as Error).message }, 'address in use by a process that does not share it; retrying');
      }
      await new Promise((r) => setTimeout(r, interval));
    }
  }
}
