// Node credentials for the CA: a file mapping node name → bearer token (YAML or JSON, e.g. a mounted
// Secret). Stand-in for Kubernetes projected service-account tokens, which need the API server to
// verify; the shape of the check (bearer token → caller's node) is the same.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { parse } from 'yaml';
import { MeshError } from '../errors';
import { logger } from '../log';

const log = logger('ca.tokens');

/** Parses `{nodeName: token}`; every problem throws NM_E_NODE_TOKENS naming the file and the entry. */
export function parseNodeTokens(text: string, file = '<tokens>'): Map<string, string> {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new MeshError('NODE_TOKENS', `${file}: ${(e as Error).message}`, { file });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new MeshError('NODE_TOKENS', `${file}: expected an object {nodeName: token}`, { file });
  const byNode = new Map<string, string>();
  const seen = new Set<string>();
  for (const [node, token] of Object.entries(doc as Record<string, unknown>)) {
    if (node === '') throw new MeshError('NODE_TOKENS', `${file}: empty node name`, { file });
    if (typeof token !== 'string' || token.length === 0 || /\s/.test(token)) {
      throw new MeshError('NODE_TOKENS', `${file}: the token of node ${node} must be a non-empty string without spaces`, { file, node });
    }
    // One token for two nodes would make the caller's node ambiguous, and so its permissions.
    if (seen.has(token)) throw new MeshError('NODE_TOKENS', `${file}: node ${node} reuses another node's token`, { file, node });
    seen.add(token);
    byNode.set(node, token);
  }
  return byNode;
}

interface Entry {
  readonly node: string;
  readonly digest: Buffer;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Token → node lookups in constant time; follows the file when it changes (checked at most every 2 s). */
export class NodeTokens {
  private entries: Entry[] = [];
  private stamp = '';
  private checkedAt = 0;

  private constructor(private readonly file: string | undefined) {}

  static fromRecord(tokens: Readonly<Record<string, string>>): NodeTokens {
    const t = new NodeTokens(undefined);
    t.set(parseNodeTokens(JSON.stringify(tokens)));
    return t;
  }

  /** Reads the file now (a bad file at startup is fatal: a CA that nobody can call is a misconfiguration). */
  static fromFile(file: string): NodeTokens {
    const t = new NodeTokens(file);
    t.load();
    return t;
  }

  get nodes(): string[] {
    return this.entries.map((e) => e.node);
  }

  /**
   * The node a token belongs to. Tokens are compared as SHA-256 digests with timingSafeEqual, over
   * every entry without stopping at a match, so neither the length nor the position of a valid token
   * leaks through timing.
   */
  lookup(token: string): string | undefined {
    this.maybeReload();
    const d = digest(token);
    let found: string | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(d, e.digest) && found === undefined) found = e.node;
    }
    return found;
  }

  private set(byNode: Map<string, string>): void {
    this.entries = [...byNode].map(([node, token]) => ({ node, digest: digest(token) }));
  }

  private load(): void {
    const file = this.file as string;
    let text: string;
    try {
      const st = statSync(file);
      this.stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new MeshError('NODE_TOKENS', `${file}: ${(e as Error).message}`, { file }, { cause: e });
    }
    this.set(parseNodeTokens(text, file));
    this.checkedAt = Date.now();
  }

  private maybeReload(): void {
    if (this.file === undefined || Date.now() - this.checkedAt < 2000) return;
    this.checkedAt = Date.now();
    let stamp: string;
    try {
      const st = statSync(this.file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch (err) {
      log.warn({ err, file: this.file }, 'node-tokens file unreadable; keeping the tokens already loaded');
      return;
    }
    if (stamp === this.stamp) return;
    try {
      this.load();
      log.info({ file: this.file, nodes: this.entries.length }, 'node tokens reloaded');
    } catch (err) {
      // Same rule as the mesh config: a bad file never replaces a good one.
      this.stamp = stamp;
      log.error({ err, file: this.file }, 'node-tokens file invalid; keeping the tokens already loaded');
    }
  }
}
