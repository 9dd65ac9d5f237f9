// A string → set-of-strings index that stores the common case (one value) as a bare string: the reverse
// indexes of translate.ts have one entry per pod, so a Set each would cost more than the pod itself.
export class MultiMap {
  private readonly map = new Map<string, string | Set<string>>();

  add(key: string, value: string): void {
    const cur = this.map.get(key);
    if (cur === undefined) this.map.set(key, value);
    else if (typeof cur === 'string') {
      if (cur !== value) this.map.set(key, new Set([cur, value]));
    } else cur.add(value);
  }

  delete(key: string, value: string): void {
    const cur = this.map.get(key);
    if (cur === undefined) return;
    if (typeof cur === 'string') {
      if (cur === value) this.map.delete(key);
      return;
    }
    cur.delete(value);
    if (cur.size === 1) this.map.set(key, cur.values().next().value as string);
  }

  forEach(key: string, fn: (value: string) => void): void {
    const cur = this.map.get(key);
    if (cur === undefined) return;
    if (typeof cur === 'string') fn(cur);
    else for (const v of cur) fn(v);
  }

  values(key: string): string[] {
    const out: string[] = [];
    this.forEach(key, (v) => out.push(v));
    return out;
  }

  count(key: string): number {
    const cur = this.map.get(key);
    return cur === undefined ? 0 : typeof cur === 'string' ? 1 : cur.size;
  }

  get size(): number {
    return this.map.size;
  }
}
