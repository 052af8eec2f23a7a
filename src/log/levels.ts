/** Log levels, and the level to log at before any configuration is loaded (LOG_LEVEL). */

/** The environment as read (process.env or a test's). */
export type Env = Readonly<Record<string, string | undefined>>;

/** pino's levels: the one list LOG_LEVEL is checked against. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(v: string | undefined): v is LogLevel {
  return LOG_LEVELS.includes(v as LogLevel);
}

/**
 * The level to log at before (or without) a loaded configuration: LOG_LEVEL
 * when valid, else warn at a terminal (progress lines say the rest) and info
 * otherwise. An invalid value is reported by loadConfig, not by a crash.
 */
export function startupLogLevel(env: Env, interactive: boolean): LogLevel {
  const requested = env.LOG_LEVEL;
  return isLogLevel(requested) ? requested : interactive ? 'warn' : 'info';
}
