// What admission settles for a forwarded request, and the endpoints its tries have used: a retry goes
// to another endpoint when one exists (the balancer's pick input excludes the tried ones).
import type { PickInput } from '../balance/algorithm';
import type { ClusterBalancer } from '../balance/cluster';
import type { HttpRoute } from '../config/traffic';
import type { RetryBudget } from '../route/retry';
import type { HeaderEdits, ResolvedDestination } from '../route/types';
import type { UpstreamHead } from '../upstream/attempt';

export interface Forward {
  readonly dest: ResolvedDestination;
  readonly cb: ClusterBalancer;
  readonly route: HttpRoute | undefined;
  readonly head: UpstreamHead;
  /** The tries speak HTTP/2 to the endpoint (else HTTP/1.1): upstream/protocol.ts on the source side. */
  readonly h2: boolean;
  readonly responseEdits: HeaderEdits | undefined;
  readonly hashKey: string | undefined;
  readonly setCookie: string | undefined;
  readonly budget: RetryBudget;
}

/** The endpoints tried so far: the first alone, a set only once there is a second (most calls make one). */
export class Tried {
  private first: string | undefined;
  private all: Set<string> | undefined;

  add(key: string): void {
    if (this.first === undefined) this.first = key;
    else (this.all ??= new Set([this.first])).add(key);
  }

  /** The pick input of the next try: the hash key, the client's original destination, what was tried. */
  input(hashKey: string | undefined, originalDst: string): PickInput {
    const tried = this.first === undefined ? undefined : (this.all ??= new Set([this.first]));
    if (tried === undefined) return hashKey !== undefined ? { hashKey, originalDst } : { originalDst };
    return hashKey !== undefined ? { hashKey, originalDst, exclude: tried } : { originalDst, exclude: tried };
  }
}
