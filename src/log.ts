// One pino logger for the process; modules take a child with their name so every line says who spoke.
import pino from 'pino';

export type Logger = pino.Logger;

const level = process.env.NODEMESH_LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info');

export const rootLogger: Logger = pino({ level, base: { app: 'nodemesh' }, timestamp: pino.stdTimeFunctions.isoTime });

export function logger(module: string): Logger {
  return rootLogger.child({ module });
}
