/**
 * The long-running service: each source's sync on its cron schedule
 * (node-cron), never two runs of a source at once (the store's advisory
 * lock, so several instances on one PostgreSQL run each job once), until
 * SIGTERM/SIGINT, which lets the page in progress commit and then stops.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { AppConfig } from '../config/types';
import type { Store } from '../store/store';
import { SyncBusyError, syncSource } from '../sync/run';
import { logger } from '../log/logger';
import type { CliIo } from '../cli/io';

export interface ServeOptions {
  store: Store;
  config: AppConfig;
  io: CliIo;
  port: number;
  /** Resolves when the service should stop (default: SIGTERM or SIGINT). */
  until?: Promise<void>;
}

export async function serve(options: ServeOptions): Promise<void> {
  const { store, config, io } = options;
  const controller = new AbortController();
  const running = new Set<Promise<unknown>>();
  const tasks: ScheduledTask[] = [];
  for (const source of config.sources) {
    if (!source.schedule) continue;
    const task = cron.schedule(source.schedule, () => {
      const p = syncSource(store, config, source, { asOf: new Date(), signal: controller.signal })
        .then((s) => logger().info({ sourceId: source.id, runId: s.runId, status: s.status }, 'scheduled sync finished'))
        .catch((err: unknown) => {
          if (err instanceof SyncBusyError) logger().info({ sourceId: source.id }, 'scheduled sync skipped: a run of this source is in progress');
          else logger().error({ err, sourceId: source.id }, 'scheduled sync failed');
        })
        .finally(() => running.delete(p));
      running.add(p);
    });
    tasks.push(task);
    io.err(`scheduled ${source.id}: "${source.schedule}"`);
  }
  io.err('serving: scheduled syncs run until SIGTERM or Ctrl-C');
  await (options.until ??
    new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    }));
  io.err('stopping: letting running syncs commit their current page…');
  for (const t of tasks) await t.stop();
  controller.abort();
  await Promise.allSettled([...running]);
  io.err('stopped');
}
