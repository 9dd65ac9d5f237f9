// An enabled access log whose JSON lines the test reads back, one parsed object a line.
import { Writable } from 'node:stream';
import pino from 'pino';
import { AccessLog } from '../../src/telemetry/accesslog';

export function collectAccessLog(): { accessLog: AccessLog; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { accessLog: new AccessLog({ logger: pino({ level: 'info' }, sink).child({ module: 'access' }) }), lines };
}
