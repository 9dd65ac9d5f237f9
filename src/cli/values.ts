// Flag values by kind: text in, a checked value or a usage error naming the flag out. Pure.
import * as net from 'node:net';
import { parseDuration } from '../config/duration';
import { CATALOG } from '../errors';
import type { CommandName, FlagSpec } from './flags';

/** A command line the program cannot run (exit status 2); `command` picks the usage hint. */
export class UsageError extends Error {
  readonly code = CATALOG.USAGE.code;
  constructor(
    message: string,
    readonly command?: CommandName,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagValue = string | number | boolean;

const BOOL: Readonly<Record<string, boolean>> = { true: true, false: false };

/** RAW is what followed the flag (true for a bare flag); throws a UsageError naming --NAME. */
export function flagValue(spec: FlagSpec, raw: string | true): FlagValue {
  const flag = `--${spec.name}`;
  const bad = (what: string): UsageError => new UsageError(`${flag} must be ${what}, got ${JSON.stringify(raw)}`);
  if (spec.kind === 'bool') {
    if (raw === true) return true;
    const b = BOOL[raw];
    if (b === undefined) throw bad('true or false (or given bare)');
    return b;
  }
  if (raw === true) throw new UsageError(`${flag} needs a value (${spec.metavar ?? 'VALUE'})`);
  if (raw === '') throw bad(`a non-empty ${spec.metavar ?? 'value'}`);
  switch (spec.kind) {
    case 'text':
    case 'path':
      return raw;
    case 'port': {
      const n = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
      const min = spec.zeroOk ? 0 : 1;
      if (!(n >= min && n <= 65535)) throw bad(`a port number (${min}-65535)`);
      return n;
    }
    case 'count': {
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
      const min = spec.zeroOk ? 0 : 1;
      if (!(n >= min && n <= max)) throw bad(`a whole number from ${min} to ${max}`);
      return n;
    }
    case 'duration': {
      const d = parseDuration(raw);
      const form = 'a duration like 500ms, 5s, 1m30s or 24h';
      if (!d.ok) throw bad(/^\d+(\.\d+)?$/.test(raw) && raw !== '0' ? `${form} (a unit is required)` : form);
      if (d.ms === 0 && !spec.zeroOk) throw bad(`greater than 0 (${form})`);
      if (spec.minMs !== undefined && d.ms > 0 && d.ms < spec.minMs) throw bad(`at least ${spec.minMs % 1000 === 0 ? `${spec.minMs / 1000}s` : `${spec.minMs}ms`}`);
      return d.ms;
    }
    case 'choice':
      if (!(spec.choices ?? []).includes(raw)) throw bad(oneOf(spec.choices ?? []));
      return raw;
    case 'ip':
      if ((spec.choices ?? []).includes(raw) || net.isIPv4(raw)) return raw;
      throw bad(oneOf([...(spec.choices ?? []), 'an IPv4 address']));
    case 'addr': {
      const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(raw);
      const port = Number(m?.[2]);
      if (!m || !(port >= (spec.zeroOk ? 0 : 1) && port <= 65535)) throw bad(`${spec.metavar ?? 'HOST:PORT'} (port ${spec.zeroOk ? 0 : 1}-65535)`);
      return raw;
    }
  }
}

/** "a", "a or b", "a, b or c". */
function oneOf(words: readonly string[]): string {
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

/** How a default or a value is written back (help, README): durations and counts as given. */
export function shownDefault(spec: FlagSpec): string | undefined {
  return spec.defaultText ?? spec.default;
}
