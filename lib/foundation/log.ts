/**
 * One JSON object per line: `{"time","level","msg",...fields}`. Fields whose name looks like a
 * secret are redacted, so a token passed by mistake never reaches the log.
 */
import { isoTime } from './iso-time.ts';
import { storageErrorKind } from './storage-errors.ts';

export const LEVEL_NAMES = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LEVEL_NAMES)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
  readonly level: LogLevel;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
const SECRET_FIELD = /token|secret|password|authorization|cookie/i;

export type LogSink = (line: string) => void;

export function createLogger(level: LogLevel = 'info', sink: LogSink = (line) => console.log(line), base: LogFields = {}): Logger {
  const threshold = RANK[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields) => {
    if (RANK[lvl] < threshold) return;
    const record: LogFields = { time: isoTime(Date.now()), level: lvl, msg };
    for (const source of [base, fields]) {
      if (!source) continue;
      for (const [key, value] of Object.entries(source)) {
        if (value === undefined) continue;
        record[key] = SECRET_FIELD.test(key) ? '[redacted]' : value instanceof Error ? value.message : value;
      }
    }
    sink(JSON.stringify(record));
  };
  return {
    level,
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
    child: (fields) => createLogger(level, sink, { ...base, ...fields }),
  };
}

/**
 * Logs a failure of background work (a poll, a heartbeat, a final write, firing schedules) at
 * `level`, unless the storage is down or full: that outage gets one warning when it starts
 * and one line when it ends (lib/db/outage-log.ts), not a line per poll and per task; here it stays at debug.
 */
export function logFailure(
  logger: Pick<Logger, 'debug' | 'warn' | 'error'>,
  level: 'warn' | 'error',
  msg: string,
  error: unknown,
  fields: Record<string, unknown> = {},
): void {
  if (storageErrorKind(error) !== undefined) logger.debug(msg, { ...fields, error });
  else logger[level](msg, { ...fields, error });
}
