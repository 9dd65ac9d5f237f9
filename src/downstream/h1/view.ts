// A parsed HTTP/1 request head seen as the router's RequestView. Strings are made on first use and
// kept, so a request the router does not inspect costs nothing, and one it does is decoded once.
import type { ConnContext } from '../../conn/context';
import type { RequestView } from '../../route/types';
import { sourceOf } from '../../proxy/source';
import { H, type Head } from '../../codec/h1head';
import { originPath } from '../../codec/headers';

export class H1RequestView implements RequestView {
  private m: string | undefined;
  private p: string | undefined;
  private a: string | undefined;
  readonly scheme = 'http';

  constructor(
    private readonly head: Head,
    private readonly ctx: ConnContext,
  ) {}

  get method(): string {
    return (this.m ??= internMethod(this.head));
  }

  /** Origin form: an absolute-form target (a client that thinks it talks to a proxy) loses its scheme and host. */
  get path(): string {
    return (this.p ??= originPath(this.head.target));
  }

  get authority(): string {
    return (this.a ??= this.head.get(H.HOST) ?? '');
  }

  header(name: string): string | undefined {
    const h = this.head;
    const buf = h.buf;
    const n = name.length;
    for (let i = 0; i < h.count; i++) {
      const o = i * 5;
      const s = h.offs[o]!;
      if (h.offs[o + 1]! - s !== n) continue;
      let same = true;
      for (let k = 0; k < n; k++) {
        let c = buf[s + k]!;
        if (c >= 65 && c <= 90) c |= 0x20;
        if (c !== name.charCodeAt(k)) {
          same = false;
          break;
        }
      }
      if (same) return h.value(i);
    }
    return undefined;
  }

  get sourceIp(): string {
    return this.ctx.peer.address;
  }

  get sourceLabels(): Readonly<Record<string, string>> {
    return sourceOf(this.ctx.source).labels;
  }

  get sourceNamespace(): string {
    return sourceOf(this.ctx.source).namespace;
  }

  get sourcePrincipal(): string {
    return sourceOf(this.ctx.source).principal;
  }
}

const COMMON_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];

/** The request method, without a new string for the common ones (routes test it on every request). */
function internMethod(h: Head): string {
  const len = h.methodEnd - h.start;
  const buf = h.buf;
  for (const m of COMMON_METHODS) {
    if (m.length !== len) continue;
    let same = true;
    for (let i = 0; i < len; i++) {
      if (buf[h.start + i] !== m.charCodeAt(i)) {
        same = false;
        break;
      }
    }
    if (same) return m;
  }
  return h.method;
}
