import path from 'node:path';
import type { AppConfig } from '../config/types';

/**
 * Where `start` and `serve` put an API key made on the first start when their messages are not going
 * to a terminal (a container's or a supervisor's log, which others may read): the keys directory,
 * owner-only. At a terminal the key is shown once instead.
 */
export function firstKeyFile(config: AppConfig, interactive = process.stderr.isTTY === true): string | undefined {
  return interactive ? undefined : path.join(config.keysDir, 'first-start-api-key.txt');
}
