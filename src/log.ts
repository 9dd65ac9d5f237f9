// One pino logger for the process; modules take a child with their name so every line says who spoke.
// Every line (the access log's included) goes to ONE buffered asynchronous destination on stdout
// (logsink.ts): writes never block the event loop, lines leave in order and whole, and what is still
// held is written before the process exits (flushLogs on the way out, a synchronous flush on 'exit').
import pino from 'pino';
import { LineSink } from './logsink';

export type Logger = pino.Logger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * NODEMESH_LOG_LEVEL → a pino level (case-insensitive; empty = unset). An unknown level is reported,
 * never thrown: this runs at import time, so the logger falls back to the default and main() refuses
 * to start with the one-line `problem`.
 */
export function resolveLogLevel(requested: string | undefined, fallback: LogLevel): { level: LogLevel; problem?: string } {
  if (requested === undefined || requested.trim() === '') return { level: fallback };
  const want = requested.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(want)) return { level: want as LogLevel };
  return { level: fallback, problem: `NODEMESH_LOG_LEVEL=${JSON.stringify(requested)} is not a log level (one of: ${LOG_LEVELS.join(', ')})` };
}

const resolved = resolveLogLevel(process.env.NODEMESH_LOG_LEVEL, process.env.NODE_ENV === 'test' ? 'silent' : 'info');
const level = resolved.level;

/** Why NODEMESH_LOG_LEVEL was not used; main() exits with it (status 2) before starting anything. */
export const logLevelProblem: string | undefined = resolved.problem;

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

/**
 * Whether a line keyed KEY is due at NOW: none was logged for it within EVERY_MS (SEEN: key → when it
 * last was). SEEN is cleared when it reaches MAX keys, so a scan of many endpoints cannot grow it. The
 * one throttle for warnings that traffic can repeat.
 */
export function logDue(seen: Map<string, number>, key: string, now: number, everyMs: number, max = 1_000): boolean {
  const last = seen.get(key);
  if (last !== undefined && now - last < everyMs) return false;
  if (last === undefined && seen.size >= max) seen.clear();
  seen.set(key, now);
  return true;
}
