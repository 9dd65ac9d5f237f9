// Config reload across workers, as a pure state machine. The main thread validates a config once and
// posts the same frozen snapshot to every worker in two phases:
//   prepare (generation g): each worker builds its proxy state from the snapshot and acks `prepared`,
//     or `rejected` with an error; it keeps serving the running generation meanwhile;
//   commit (g): once every worker prepared g, each switches to it (one synchronous swap on receipt)
//     and acks `committed`.
// So no worker runs g unless all could build it, and they switch within one message of each other.
// A prepare not acked in time aborts g everywhere (the running generation stays) and names the workers
// that did not answer; a commit not acked in time names them too (the caller restarts them). A newer
// publish supersedes a pending one. A worker that starts (or restarts) gets the running generation
// installed; the agent is ready when every live worker runs the newest committed generation.

export type Effect =
  | { readonly send: 'prepare' | 'commit' | 'abort' | 'install'; readonly gen: number; readonly to: readonly string[] }
  | { readonly outcome: 'applied'; readonly gen: number }
  | { readonly outcome: 'rejected'; readonly gen: number; readonly worker: string; readonly error: string }
  | { readonly outcome: 'timeout'; readonly gen: number; readonly phase: 'prepare' | 'commit'; readonly workers: readonly string[] };

export type Event =
  | { readonly kind: 'publish'; readonly now: number }
  | { readonly kind: 'prepared' | 'committed'; readonly worker: string; readonly gen: number; readonly now: number }
  | { readonly kind: 'rejected'; readonly worker: string; readonly gen: number; readonly error: string; readonly now: number }
  | { readonly kind: 'join' | 'exit'; readonly worker: string; readonly now: number }
  | { readonly kind: 'tick'; readonly now: number };

export interface Pending {
  readonly gen: number;
  readonly phase: 'prepare' | 'commit';
  /** When the phase began (ms). */
  readonly since: number;
  /** Workers whose ack for this phase is still missing, in join order. */
  readonly waiting: readonly string[];
}

export interface BroadcastState {
  /** Live workers and the generation each runs (0 = none yet). */
  readonly workers: ReadonlyMap<string, number>;
  /** The newest generation committed everywhere (0 = none yet). */
  readonly current: number;
  /** The last generation number handed out. */
  readonly last: number;
  readonly pending: Pending | undefined;
  /** How long a phase waits for acks (ms). */
  readonly timeoutMs: number;
}

export function initial(timeoutMs: number): BroadcastState {
  return { workers: new Map(), current: 0, last: 0, pending: undefined, timeoutMs };
}

/** Every live worker runs the newest committed generation (and there is one, and a worker). */
export function ready(s: BroadcastState): boolean {
  if (s.current === 0 || s.workers.size === 0) return false;
  for (const g of s.workers.values()) if (g !== s.current) return false;
  return true;
}

export interface Step {
  readonly state: BroadcastState;
  readonly effects: readonly Effect[];
}

const without = (list: readonly string[], w: string): string[] => list.filter((x) => x !== w);

export function step(s: BroadcastState, e: Event): Step {
  const effects: Effect[] = [];
  const p = s.pending;
  switch (e.kind) {
    case 'publish': {
      const gen = s.last + 1;
      if (p !== undefined && p.phase === 'prepare') effects.push({ send: 'abort', gen: p.gen, to: [...s.workers.keys()] });
      // a pending commit is not undone: it is a switch already decided (it becomes the running
      // generation, which workers that join install and readiness waits for); the new prepare follows it
      const current = p !== undefined && p.phase === 'commit' ? p.gen : s.current;
      const to = [...s.workers.keys()];
      effects.push({ send: 'prepare', gen, to });
      const next: BroadcastState = { ...s, current, last: gen, pending: { gen, phase: 'prepare', since: e.now, waiting: to } };
      return advance(next, effects, e.now);
    }
    case 'prepared': {
      if (p === undefined || p.phase !== 'prepare' || p.gen !== e.gen || !p.waiting.includes(e.worker)) return { state: s, effects };
      return advance({ ...s, pending: { ...p, waiting: without(p.waiting, e.worker) } }, effects, e.now);
    }
    case 'rejected': {
      if (p === undefined || p.phase !== 'prepare' || p.gen !== e.gen) return { state: s, effects };
      effects.push({ send: 'abort', gen: p.gen, to: [...s.workers.keys()] }, { outcome: 'rejected', gen: p.gen, worker: e.worker, error: e.error });
      return { state: { ...s, pending: undefined }, effects };
    }
    case 'committed': {
      if (!s.workers.has(e.worker)) return { state: s, effects };
      const workers = new Map(s.workers).set(e.worker, Math.max(s.workers.get(e.worker)!, e.gen));
      if (p === undefined || p.phase !== 'commit' || p.gen !== e.gen) return { state: { ...s, workers }, effects };
      return advance({ ...s, workers, pending: { ...p, waiting: without(p.waiting, e.worker) } }, effects, e.now);
    }
    case 'join': {
      if (s.workers.has(e.worker)) return { state: s, effects };
      const workers = new Map(s.workers).set(e.worker, 0);
      let pending = p;
      if (p !== undefined && p.phase === 'commit') {
        // the switch is decided: the newcomer, not serving yet, installs the new generation at once
        effects.push({ send: 'install', gen: p.gen, to: [e.worker] });
        return { state: { ...s, workers, pending: { ...p, waiting: [...p.waiting, e.worker] } }, effects };
      }
      if (s.current > 0) effects.push({ send: 'install', gen: s.current, to: [e.worker] });
      if (p !== undefined && p.phase === 'prepare') {
        effects.push({ send: 'prepare', gen: p.gen, to: [e.worker] });
        pending = { ...p, waiting: [...p.waiting, e.worker] };
      }
      return { state: { ...s, workers, pending }, effects };
    }
    case 'exit': {
      if (!s.workers.has(e.worker)) return { state: s, effects };
      const workers = new Map(s.workers);
      workers.delete(e.worker);
      const next = { ...s, workers, pending: p === undefined ? p : { ...p, waiting: without(p.waiting, e.worker) } };
      return advance(next, effects, e.now);
    }
    case 'tick': {
      if (p === undefined || e.now - p.since < s.timeoutMs) return { state: s, effects };
      effects.push({ outcome: 'timeout', gen: p.gen, phase: p.phase, workers: p.waiting });
      if (p.phase === 'prepare') {
        effects.push({ send: 'abort', gen: p.gen, to: [...s.workers.keys()] });
        return { state: { ...s, pending: undefined }, effects };
      }
      // commit: the workers that did acknowledge run it; the silent ones are the caller's to restart
      return { state: { ...s, current: p.gen, pending: undefined }, effects };
    }
  }
}

/** Moves to the next phase once nobody is waiting: prepare → commit → applied. */
function advance(s: BroadcastState, effects: Effect[], now: number): Step {
  const p = s.pending;
  if (p === undefined || p.waiting.length > 0) return { state: s, effects };
  if (p.phase === 'prepare') {
    const to = [...s.workers.keys()];
    effects.push({ send: 'commit', gen: p.gen, to });
    const pending: Pending = { gen: p.gen, phase: 'commit', since: now, waiting: to };
    return advance({ ...s, pending }, effects, now);
  }
  effects.push({ outcome: 'applied', gen: p.gen });
  return { state: { ...s, current: p.gen, pending: undefined }, effects };
}
