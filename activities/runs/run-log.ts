/** Each run writes its own JSON log file, logs/<run id>.log, besides the worker's own log stream. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import pino, { type DestinationStream, type Level, type Logger } from 'pino';

/** Keys whose values never reach a log: tokens, credentials, and participants' phone numbers. */
export const REDACTED_PATHS = [
  'token',
  'password',
  'secret',
  'credentials',
  'authorization',
  'phone',
  '*.token',
  '*.accessToken',
  '*.password',
  '*.secret',
  '*.credentials',
  '*.privateKey',
  '*.private_key',
  '*.authorization',
  '*.phone',
  '*.phoneNumber',
  '*.headers.authorization',
];

/** The pipeline's JSON logger: pino with redaction, writing to `destination` (stdout by default). */
export function createPipelineLogger(level: Level, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination ?? pino.destination(1));
}

export interface RunLogger {
  logger: Logger;
  close(): void;
}

/** The run log keeps at least `info` lines whatever the worker's console level, since it is the run's record. */
const RUN_LOG_LEVEL: Level = 'info';

/** A logger whose lines go both where `base` writes (at its level) and to the run's log file (appended, synchronous). */
export function openRunLogger(base: Logger, logPath: string, bindings: Record<string, unknown>): RunLogger {
  mkdirSync(dirname(logPath), { recursive: true });
  const file = pino.destination({ dest: logPath, append: true, sync: true });
  const consoleLevel = base.level as Level;
  const fileLevel = pino.levels.values[consoleLevel]! < pino.levels.values[RUN_LOG_LEVEL]! ? consoleLevel : RUN_LOG_LEVEL;
  const lowest = pino.levels.values[consoleLevel]! < pino.levels.values[fileLevel]! ? consoleLevel : fileLevel;
  const streams = pino.multistream([
    { level: consoleLevel, stream: (base as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]! },
    { level: fileLevel, stream: file },
  ]);
  const logger = pino({ level: lowest, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, streams).child(bindings);
  return { logger, close: () => file.destroy() };
}
