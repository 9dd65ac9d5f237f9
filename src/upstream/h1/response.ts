// The response side of an HTTP/1.1 try, as handed on: the head's fields as a list (the Keep-Alive
// timeout hint applied to the connection on the way) and fresh copies of bytes read into the pool's
// shared buffer.
import type { HeaderList } from '../../codec/fields';
import type { Head } from '../../codec/h1head';
import type { UpstreamConn } from './pool';

export function copyOf(buf: Buffer, s: number, e: number): Buffer {
  const out = Buffer.allocUnsafe(e - s);
  buf.copy(out, 0, s, e);
  return out;
}

/** The response fields as a list with lower-case names; applies a Keep-Alive timeout hint to UP. */
export function responseList(h: Head, up: UpstreamConn): HeaderList {
  const out: [string, string][] = [];
  for (let i = 0; i < h.count; i++) {
    const k = h.name(i).toLowerCase();
    const v = h.value(i);
    if (k === 'keep-alive') {
      const m = /(?:^|[\s,])timeout=(\d+)/i.exec(v);
      if (m !== null) up.hint(Number(m[1]));
    }
    out.push([k, v]);
  }
  return out;
}
