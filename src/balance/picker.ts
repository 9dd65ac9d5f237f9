// The round-robin decision, pure: given the list size, the cursor and a health test, which index goes
// next. Returns a tagged result like grpc-js's Picker so callers cannot forget the empty case.

export type RoundRobinPick =
  | { readonly kind: 'pick'; readonly index: number; readonly next: number; readonly panic: boolean }
  | { readonly kind: 'none' };

const NONE: RoundRobinPick = { kind: 'none' };

/**
 * Picks the first healthy index at or after `cursor` (mod n). When none is healthy it picks `cursor`
 * anyway (panic mode, as Envoy does at 0% healthy) rather than failing every request with UH.
 * `next` is the cursor to store; a cursor beyond n (the list shrank on reload) just wraps.
 */
export function pickRoundRobin(n: number, cursor: number, healthy?: (index: number) => boolean): RoundRobinPick {
  if (n <= 0) return NONE;
  const start = cursor % n;
  if (healthy === undefined) return { kind: 'pick', index: start, next: (start + 1) % n, panic: false };
  for (let k = 0; k < n; k++) {
    const i = (start + k) % n;
    if (healthy(i)) return { kind: 'pick', index: i, next: (i + 1) % n, panic: false };
  }
  return { kind: 'pick', index: start, next: (start + 1) % n, panic: true };
}
