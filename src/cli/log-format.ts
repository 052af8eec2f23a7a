/**
 * What stderr carries: `pretty` (words for a person: progress, messages, and log records written as
 * lines) or `json` (one JSON record per line, for a log collector: the command's messages and its
 * progress become records too). Never both on one stream. Default: pretty at a terminal, json
 * otherwise; `--log-format` or LOG_FORMAT chooses.
 */
import type { DestinationStream } from 'pino';
import { configError } from '../errors';
import type { Env } from '../log/levels';
import { createLogger, logger } from '../log/logger';
import type { CliIo } from './io';

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** `--log-format X` or `--log-format=X` among the arguments, else LOG_FORMAT, else by whether stderr is a terminal. */
export function logFormatOf(args: readonly string[], env: Env, stderrIsTTY: boolean): LogFormat {
  let asked: string | undefined;
  let where = 'LOG_FORMAT';
  args.forEach((a, i) => {
    if (a === '--log-format') asked = args[i + 1];
    else if (a.startsWith('--log-format=')) asked = a.slice('--log-format='.length);
    else return;
    where = '--log-format';
  });
  asked ??= env.LOG_FORMAT || undefined;
  if (asked === undefined) return stderrIsTTY ? 'pretty' : 'json';
  if (!(LOG_FORMATS as readonly string[]).includes(asked))
    throw configError(`${where} must be json or pretty; got "${asked}"`, [where]);
  return asked as LogFormat;
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
const NOT_SHOWN = new Set(['level', 'time', 'service', 'msg', 'pid', 'hostname']);

function shown(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'message' in value) return String((value as { message: unknown }).message);
  return JSON.stringify(value);
}

/** One log record (already scrubbed by the logger) as a line: "warn: message (key=value, …)". */
export function prettyLine(record: Record<string, unknown>): string {
  const level = LEVEL_NAMES[record.level as number] ?? String(record.level);
  const fields = Object.entries(record)
    .filter(([k, v]) => !NOT_SHOWN.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${shown(v)}`);
  return `${level}: ${String(record.msg ?? '')}${fields.length ? ` (${fields.join(', ')})` : ''}`;
}

/** A pino destination writing each record as a pretty line (a line that is not JSON passes as it is). */
export function prettyDestination(write: (line: string) => void): DestinationStream {
  return {
    write(chunk: string) {
      for (const text of chunk.split('\n')) {
        if (!text) continue;
        try {
          write(prettyLine(JSON.parse(text) as Record<string, unknown>));
        } catch {
          write(text);
        }
      }
    },
  };
}

/**
 * The CLI's io when stderr carries JSON: each message a record (at least info, whatever LOG_LEVEL: a
 * command's answer is not a debug line), progress as records with fields through the logger.
 */
export function jsonStderrIo(base: CliIo): CliIo {
  const lines = createLogger({ level: 'info' }).child({ event: 'cli' });
  return {
    out: base.out,
    isTTY: false,
    err: (line) => lines.info(line.trim()),
    error: (line) => lines.error(line.trim()),
    record: (msg, fields) => logger().info(fields, msg),
  };
}
