// One pino logger for the process; modules take a child with their name so every line says who spoke.
// Every line (the access log's included) goes to ONE buffered asynchronous destination on stdout
// (logsink.ts): writes never block the event loop, lines leave in order and whole, and what is still
// held is written before the process exits (flushLogs on the way out, a synchronous flush on 'exit').
import pino from 'pino';
import { LineSink } from './logsink';

export type Logger = pino.Logger;

const level = process.env.NODEMESH_LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info');

/**
 * What may wait in memory when stdout is slower than the agent logs (a stalled log collector). Past it
 * lines are dropped and counted (nodemesh_log_dropped_lines_total) rather than growing without bound.
 */
const MAX_BUFFERED = 64 * 1024 * 1024;

const sink = new LineSink({ fd: 1, maxBuffered: MAX_BUFFERED });
process.on('exit', () => sink.flushSync());

export const rootLogger: Logger = pino({ level, base: { app: 'nodemesh' }, timestamp: pino.stdTimeFunctions.isoTime }, sink);

export function logger(module: string): Logger {
  return rootLogger.child({ module });
}

/** Lines dropped because the buffer was full (stdout stalled). */
export function droppedLogLines(): number {
  return sink.dropped;
}

/** Resolves once every line logged so far has been written (bounded by TIMEOUT_MS). */
export function flushLogs(timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    void sink.drained().then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
