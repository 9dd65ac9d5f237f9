// PATCH bodies for the Kubernetes API stand-in (pure; see kubeapi.ts): JSON Patch (RFC 6902, the client
// library's default patch type) and JSON Merge Patch (RFC 7386; strategic merge is treated as a merge,
// which differs only for lists the agent never patches).

type Json = unknown;

const isObj = (v: Json): v is Record<string, Json> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObj(patch)) return patch;
  const out: Record<string, Json> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Applies RFC 6902 operations to a copy of `doc`; a string is the reason it cannot. */
export function jsonPatch(doc: Json, ops: Json): Json | { error: string } {
  if (!Array.isArray(ops)) return { error: 'a JSON patch must be an array of operations' };
  let root = structuredClone(doc);
  for (const op of ops) {
    if (!isObj(op) || typeof op.op !== 'string' || typeof op.path !== 'string') return { error: `invalid operation ${JSON.stringify(op)}` };
    const path = pointer(op.path);
    if (!path) return { error: `invalid JSON pointer ${op.path}` };
    let value: Json = op.value;
    if (op.op === 'move' || op.op === 'copy') {
      const from = typeof op.from === 'string' ? pointer(op.from) : undefined;
      const got = from ? lookup(root, from) : undefined;
      if (!got) return { error: `path ${String(op.from)} does not exist` };
      value = structuredClone(got.value);
      if (op.op === 'move') root = remove(root, from!) ?? root;
    }
    switch (op.op) {
      case 'test': {
        const got = lookup(root, path);
        if (!got || JSON.stringify(got.value) !== JSON.stringify(op.value)) return { error: `test operation failed at ${op.path}` };
        break;
      }
      case 'remove': {
        const r = remove(root, path);
        if (r === undefined) return { error: `path ${op.path} does not exist` };
        root = r;
        break;
      }
      case 'add': case 'replace': case 'move': case 'copy': {
        if (op.op === 'replace' && !lookup(root, path)) return { error: `path ${op.path} does not exist` };
        const r = set(root, path, value, op.op !== 'replace');
        if (r === undefined) return { error: `path ${op.path} cannot be set` };
        root = r;
        break;
      }
      default:
        return { error: `unknown operation ${op.op}` };
    }
  }
  return root;
}

function pointer(p: string): string[] | undefined {
  if (p === '') return [];
  if (!p.startsWith('/')) return undefined;
  return p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function lookup(doc: Json, path: string[]): { value: Json } | undefined {
  let cur = doc;
  for (const k of path) {
    if (Array.isArray(cur) && /^\d+$/.test(k) && Number(k) < cur.length) cur = cur[Number(k)];
    else if (isObj(cur) && Object.prototype.hasOwnProperty.call(cur, k)) cur = cur[k];
    else return undefined;
  }
  return { value: cur };
}

function parentOf(doc: Json, path: string[]): Json {
  return path.length <= 1 ? doc : lookup(doc, path.slice(0, -1))?.value;
}

function set(doc: Json, path: string[], value: Json, insert: boolean): Json | undefined {
  if (path.length === 0) return value;
  const parent = parentOf(doc, path);
  const k = path[path.length - 1]!;
  if (Array.isArray(parent)) {
    const i = k === '-' ? parent.length : /^\d+$/.test(k) ? Number(k) : -1;
    if (i < 0 || i > parent.length || (!insert && i === parent.length)) return undefined;
    parent.splice(i, insert ? 0 : 1, value);
    return doc;
  }
  if (!isObj(parent)) return undefined;
  parent[k] = value;
  return doc;
}

function remove(doc: Json, path: string[]): Json | undefined {
  if (path.length === 0 || !lookup(doc, path)) return undefined;
  const parent = parentOf(doc, path);
  const k = path[path.length - 1]!;
  if (Array.isArray(parent)) parent.splice(Number(k), 1);
  else if (isObj(parent)) delete parent[k];
  return doc;
}
