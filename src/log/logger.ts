/**
 * The one logger (pino, JSON on stderr). Every object logged passes through
 * `scrub`, so resources, headers, tokens and URLs with query values cannot
 * leak into logs whichever call site logs them.
 */
import { startupLogLevel } from './levels';
import pino, { type DestinationStream, type Logger } from 'pino';
import { scrub } from './redact';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Where lines go; default stderr (stdout is for command output). */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const log = pino(
    {
      level: options.level ?? 'info',
      base: { service: 'fhir-engage' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // The default err serializer copies every enumerable field; ours is the scrubber.
      serializers: { err: (e: unknown) => scrub(e) },
      formatters: {
        log: (obj) => scrub(obj) as Record<string, unknown>,
      },
      hooks: {
        // Messages are constant strings; interpolated arguments could carry anything.
        logMethod(args, method) {
          const [first, second] = args as unknown[];
          if (typeof first === 'string') {
            return method.apply(this, [first]);
          }
          if (typeof second === 'string') {
            return method.apply(this, [first as object, second]);
          }
          return method.apply(this, args as Parameters<typeof method>);
        },
      },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
  // pino serialises child bindings once, bypassing formatters.log: scrub them on the way in.
  // Children inherit this method through their prototype chain.
  const pinoChild = log.child;
  log.child = function scrubbedChild(this: Logger, bindings, childOptions) {
    return pinoChild.call(this, scrub(bindings) as typeof bindings, childOptions);
  } as Logger['child'];
  return log;
}

let shared: Logger | undefined;

/** The process-wide logger, created on first use from LOG_LEVEL. */
export function logger(): Logger {
  if (!shared) {
    shared = createLogger({ level: startupLogLevel(process.env, false) });
  }
  return shared;
}

/** Replaces the process-wide logger (CLI start-up, tests). */
export function setLogger(l: Logger): void {
  shared = l;
}
