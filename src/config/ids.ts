// Service ids shared with the kernel maps: FNV-1a 32-bit of "namespace/name" (UTF-8). 0 marks an empty
// slot in the maps, so a hash of 0 becomes 1; the loader rejects any collision this leaves.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function fnv1a32(s: string): number {
  let h = FNV_OFFSET;
  for (const byte of Buffer.from(s, 'utf8')) {
    h = Math.imul(h ^ byte, FNV_PRIME) >>> 0;
  }
  return h;
}

export function serviceId(key: string): number {
  return fnv1a32(key) || 1;
}
