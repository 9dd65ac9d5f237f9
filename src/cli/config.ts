// `nodemesh config KIND`: one call to the agent's Config service, printed as a table or JSON.
import type { Writable } from 'node:stream';
import { CONFIG_KINDS, type ConfigKind } from '../telemetry/admin-proto';
import { connectAdmin, type AdminClient } from './admin-client';
import { configTable } from './config-view';
import { UsageError } from './values';

export function isConfigKind(s: string): s is ConfigKind {
  return Object.hasOwn(CONFIG_KINDS, s);
}

export async function runConfig(kind: string, o: { address: string; output: 'table' | 'json'; out: Writable; client?: AdminClient }): Promise<number> {
  if (!isConfigKind(kind)) throw new UsageError(`unknown kind ${JSON.stringify(kind)} for "nodemesh config" (one of: ${Object.keys(CONFIG_KINDS).join(', ')})`, 'config');
  const client = o.client ?? (await connectAdmin(o.address));
  try {
    const answer = await client.config(kind);
    o.out.write(o.output === 'json' ? `${JSON.stringify(answer, null, 2)}\n` : `${configTable(kind, answer).join('\n')}\n`);
    return 0;
  } finally {
    if (o.client === undefined) client.close();
  }
}
