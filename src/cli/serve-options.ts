import path from 'node:path';
import type { AppConfig } from '../config/types';
import type { ServeOptions } from '../scheduler/serve';
import type { Store } from '../store/store';
import type { CliIo } from './io';

/**
 * Where `start` and `serve` put an API key made on the first start when their messages are not going
 * to a terminal (a container's or a supervisor's log, which others may read): the keys directory,
 * owner-only. At a terminal the key is shown once instead.
 */
export function firstKeyFile(config: AppConfig, interactive = process.stderr.isTTY === true): string | undefined {
  return interactive ? undefined : path.join(config.keysDir, 'first-start-api-key.txt');
}

/** How the CLI's `start` and `serve` run the service: messages on stderr, port and host from the flags or the environment. */
export function serveOptions(
  store: Store,
  config: AppConfig,
  io: CliIo,
  opts: { port?: number; host?: string },
): ServeOptions {
  return {
    store,
    config,
    say: (line) => io.err(line),
    port: opts.port ?? config.service.port,
    host: opts.host,
    firstKeyFile: firstKeyFile(config),
  };
}
