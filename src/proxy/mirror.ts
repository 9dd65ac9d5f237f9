// Mirrored copies of a request (VirtualService mirrors): the same request with the authority suffixed
// "-shadow", sent to the mirror's cluster, fire and forget. The copy's body is fed as the client sends
// it; a mirror that lags more than a bound behind is dropped, so it never holds memory or the main
// request back. Its response is read and discarded; nodemesh_mirror_requests_total counts the outcome.
import type { Addr } from '../capture/types';
import type { Target } from '../balance/target';
import type { ConnContext } from '../conn/context';
import { logger } from '../log';
import type { ResolvedMirror } from '../route/types';
import { tlsFor } from '../upstream/tls';
import { startTry, type Attempt, type UpstreamHead } from './attempt';
import type { BodyTap } from './body';
import type { EngineParts } from './deps';
import { shadowAuthority } from './headerops';
import type { HeaderList } from './types';

const log = logger('mirror');

type Outcome = 'sent' | 'failed' | 'dropped';

export class MirrorCopy implements BodyTap {
  private attempt: Attempt | undefined;
  private done = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly target: Target;
  private readonly service: string;

  private constructor(
    private readonly parts: EngineParts,
    m: ResolvedMirror,
    target: Target,
    addr: Addr,
    key: string,
    head: UpstreamHead,
    h2: boolean,
    bodyless: boolean,
  ) {
    this.target = target;
    this.service = m.to.service.key;
    const cp = m.to.policy.connectionPool;
    const tls = tlsFor(m.to);
    const opts = { ...(cp?.connectTimeoutMs !== undefined ? { connectTimeoutMs: cp.connectTimeoutMs } : {}), ...(tls !== undefined ? { tls } : {}) };
    // Never the raw head: the copy goes with its own authority.
    const shadow: UpstreamHead = { method: head.method, path: head.path, authority: shadowAuthority(head.authority), headers: head.headers };
    const ev = {
      onResponse: (status: number) => {
        if (status >= 500) this.settle('failed');
      },
      onData: () => undefined,
      onEnd: () => this.settle('sent'),
      onFailure: () => this.settle('failed'),
      onDrain: () => undefined,
    };
    this.attempt = startTry(parts, h2, key, addr, shadow, bodyless, opts, ev);
    const ms = parts.timeouts.requestMs;
    if (ms > 0) {
      this.timer = setTimeout(() => this.settle('failed'), ms);
      this.timer.unref();
    }
  }

  /** Starts a copy of HEAD to mirror M, or undefined when its cluster has no endpoint. */
  static start(parts: EngineParts, ctx: ConnContext, m: ResolvedMirror, head: UpstreamHead, h2: boolean, bodyless: boolean): MirrorCopy | undefined {
    try {
      const cb = parts.balancers.for(m.to);
      const pick = cb.pick(parts.index().upstreams(m.to.service, m.to.port), {});
      if (pick.kind === 'none') {
        parts.metrics.mirrored.inc({ service: m.to.service.key, outcome: 'failed' });
        return undefined;
      }
      const t = pick.target;
      const relay = parts.dial?.(ctx.peer, t.addr);
      const addr = relay ?? t.addr;
      const key = relay !== undefined ? `relay|${relay.address}` : t.key;
      return new MirrorCopy(parts, m, t, addr, key, head, h2, bodyless);
    } catch (err) {
      log.debug({ err }, 'mirror could not start');
      parts.metrics.mirrored.inc({ service: m.to.service.key, outcome: 'failed' });
      return undefined;
    }
  }

  feed(chunk: Buffer): boolean {
    const a = this.attempt;
    if (a === undefined || this.done) return false;
    a.write(chunk);
    if (a.buffered() > this.parts.mirrorBufferBytes) {
      this.settle('dropped');
      return false;
    }
    return true;
  }

  finish(trailers: HeaderList | undefined): void {
    this.attempt?.end(trailers);
  }

  abandon(): void {
    this.settle('failed');
  }

  private settle(outcome: Outcome): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    // A finished copy needs nothing more; any other outcome cancels what is still in flight.
    if (outcome !== 'sent') this.attempt?.abort();
    this.attempt = undefined;
    this.parts.metrics.mirrored.inc({ service: this.service, outcome });
    if (outcome !== 'sent') log.debug({ endpoint: this.target.key, outcome }, 'mirror copy not completed');
  }
}
