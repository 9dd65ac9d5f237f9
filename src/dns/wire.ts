// The DNS wire format (RFC 1035), as little of it as the node's DNS proxy needs: parse a query's header
// and its one question, build an answer of A records (or none). Pure; strict: anything unexpected is
// undefined (the caller drops and counts it), never an exception.

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
export const CLASS_IN = 1;
export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;

const HEADER = 12;
const MAX_NAME = 255;

export interface Question {
  /** Lower-cased, without the trailing dot ("" for the root). */
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface Query {
  readonly id: number;
  /** Recursion desired, echoed in the answer. */
  readonly rd: boolean;
  readonly question: Question;
  /** The question's bytes as sent (name case kept), echoed in the answer. */
  readonly questionBytes: Buffer;
}

/**
 * A standard query (QR=0, OPCODE=0) with exactly one question and no answer or authority records; the
 * additional section (an EDNS OPT record, as dig and glibc send) is allowed and ignored. Undefined for
 * anything else: a response, a truncated packet, a compressed or over-long name.
 */
export function parseQuery(buf: Uint8Array): Query | undefined {
  if (buf.length < HEADER) return undefined;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const flags = b.readUInt16BE(2);
  if ((flags & 0x8000) !== 0 || ((flags >> 11) & 0xf) !== 0) return undefined;
  if (b.readUInt16BE(4) !== 1 || b.readUInt16BE(6) !== 0 || b.readUInt16BE(8) !== 0) return undefined;
  const name = readName(b, HEADER);
  if (name === undefined) return undefined;
  const end = name.end + 4;
  if (end > b.length) return undefined;
  return {
    id: b.readUInt16BE(0),
    rd: (flags & 0x0100) !== 0,
    question: { name: name.name, type: b.readUInt16BE(name.end), class: b.readUInt16BE(name.end + 2) },
    questionBytes: Buffer.from(b.subarray(HEADER, end)),
  };
}

/** An uncompressed name at OFF: its text and where it ends. */
function readName(b: Buffer, off: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let len = 0;
  for (;;) {
    if (off >= b.length) return undefined;
    const n = b[off]!;
    if (n === 0) return { name: labels.join('.').toLowerCase(), end: off + 1 };
    // 0xC0: a compression pointer, 0x40/0x80: reserved label types; none belong in a query's question.
    if (n > 63 || off + 1 + n > b.length) return undefined;
    len += n + 1;
    if (len > MAX_NAME) return undefined;
    const label = b.subarray(off + 1, off + 1 + n);
    // Printable ASCII only: a name with a dot or a control byte inside a label cannot be a mesh host.
    if (label.some((c) => c <= 0x20 || c >= 0x7f || c === 0x2e)) return undefined;
    labels.push(label.toString('latin1'));
    off += 1 + n;
  }
}

export interface AnswerSpec {
  readonly rcode: number;
  /** A records for the question's name (only for an A question). */
  readonly addresses: readonly string[];
  readonly ttl: number;
}

/** The answer to Q: authoritative, recursion available, the question echoed, A records by pointer. */
export function buildAnswer(q: Query, a: AnswerSpec): Buffer {
  const records = q.question.type === TYPE_A ? a.addresses : [];
  const out = Buffer.alloc(HEADER + q.questionBytes.length + records.length * 16);
  out.writeUInt16BE(q.id, 0);
  out.writeUInt16BE(0x8000 | 0x0400 | (q.rd ? 0x0100 : 0) | 0x0080 | (a.rcode & 0xf), 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(records.length, 6);
  q.questionBytes.copy(out, HEADER);
  let off = HEADER + q.questionBytes.length;
  for (const ip of records) {
    out.writeUInt16BE(0xc000 | HEADER, off);
    out.writeUInt16BE(TYPE_A, off + 2);
    out.writeUInt16BE(CLASS_IN, off + 4);
    out.writeUInt32BE(a.ttl >>> 0, off + 6);
    out.writeUInt16BE(4, off + 10);
    const parts = ip.split('.').map(Number);
    for (let i = 0; i < 4; i++) out[off + 12 + i] = parts[i]! & 0xff;
    off += 16;
  }
  return out;
}

/** An error answer (FORMERR, SERVFAIL...) to a query whose header could be read, else undefined. */
export function buildError(buf: Uint8Array, rcode: number): Buffer | undefined {
  if (buf.length < HEADER) return undefined;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if ((b.readUInt16BE(2) & 0x8000) !== 0) return undefined;
  const out = Buffer.alloc(HEADER);
  out.writeUInt16BE(b.readUInt16BE(0), 0);
  out.writeUInt16BE(0x8000 | (b.readUInt16BE(2) & 0x0100) | 0x0080 | (rcode & 0xf), 2);
  return out;
}

/** A query for NAME (used by tests and the forwarder's health checks): id, RD set, one question. */
export function buildQuery(id: number, name: string, type: number): Buffer {
  const labels = name.split('.').filter((l) => l !== '');
  const q = Buffer.alloc(HEADER + labels.reduce((n, l) => n + l.length + 1, 0) + 5);
  q.writeUInt16BE(id & 0xffff, 0);
  q.writeUInt16BE(0x0100, 2);
  q.writeUInt16BE(1, 4);
  let off = HEADER;
  for (const l of labels) {
    q[off] = l.length;
    q.write(l, off + 1, 'latin1');
    off += l.length + 1;
  }
  q[off] = 0;
  q.writeUInt16BE(type, off + 1);
  q.writeUInt16BE(CLASS_IN, off + 3);
  return q;
}

/** The A records of an answer (for tests and the e2e resolver check): rcode and addresses. */
export function parseAnswerA(buf: Uint8Array): { id: number; rcode: number; addresses: string[] } | undefined {
  if (buf.length < HEADER) return undefined;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if ((b.readUInt16BE(2) & 0x8000) === 0) return undefined;
  const qd = b.readUInt16BE(4);
  const an = b.readUInt16BE(6);
  let off = HEADER;
  for (let i = 0; i < qd; i++) {
    const end = skipName(b, off);
    if (end === undefined || end + 4 > b.length) return undefined;
    off = end + 4;
  }
  const addresses: string[] = [];
  for (let i = 0; i < an; i++) {
    const end = skipName(b, off);
    if (end === undefined || end + 10 > b.length) return undefined;
    const type = b.readUInt16BE(end);
    const rdlen = b.readUInt16BE(end + 8);
    if (end + 10 + rdlen > b.length) return undefined;
    if (type === TYPE_A && rdlen === 4) addresses.push([...b.subarray(end + 10, end + 14)].join('.'));
    off = end + 10 + rdlen;
  }
  return { id: b.readUInt16BE(0), rcode: b.readUInt16BE(2) & 0xf, addresses };
}

function skipName(b: Buffer, off: number): number | undefined {
  for (let hops = 0; hops < 128; hops++) {
    if (off >= b.length) return undefined;
    const n = b[off]!;
    if (n === 0) return off + 1;
    if ((n & 0xc0) === 0xc0) return off + 2 <= b.length ? off + 2 : undefined;
    if (n > 63) return undefined;
    off += 1 + n;
  }
  return undefined;
}
