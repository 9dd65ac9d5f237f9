// One pino logger for the process; modules take a child with their name so every line says who spoke.
// Every line (the access log's included) goes through ONE buffered asynchronous stdout destination:
// writes never block the event loop, lines leave in order and whole (a single writer), and what is
// still buffered is written before the process exits (flushLogs on the way out; pino's exit hook too).
import pino from 'pino';

export type Logger = pino.Logger;

const level = process.env.NODEMESH_LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info');

/**
 * What may wait in memory when stdout is slower than the agent logs (a stalled log collector). Past it
 * lines are dropped and counted (nodemesh_log_dropped_lines_total) rather than growing without bound.
 */
const MAX_BUFFERED = 64 * 1024 * 1024;

let dropped = 0;

const destination = pino.destination({ dest: 1, sync: false, maxLength: MAX_BUFFERED });
destination.on('drop', () => {
  dropped++;
});

export const rootLogger: Logger = pino({ level, base: { app: 'nodemesh' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);

export function logger(module: string): Logger {
  return rootLogger.child({ module });
}

/** Lines dropped because the buffer was full (stdout stalled). */
export function droppedLogLines(): number {
  return dropped;
}

/** Resolves once every line logged so far has been written (bounded by TIMEOUT_MS). */
export function flushLogs(timeoutMs = 5_000): Promise<void> {
  // sonic-boom says 'drain' when its buffer is empty and no write is in flight.
  const d = destination as unknown as { _writing: boolean; _len: number };
  if (!d._writing && d._len === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      destination.removeListener('drain', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    destination.once('drain', done);
  });
}
