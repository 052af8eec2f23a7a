/**
 * Runs syncs on demand (API) and on schedule, one at a time per source in this
 * process; the store's advisory lock keeps other processes out too.
 */
import { randomUUID } from 'node:crypto';
import type { AppConfig } from '../config/types';
import type { Store } from '../store/store';
import { logger } from '../log/logger';
import { SyncBusyError, syncSource, type SyncOptions, type SyncSummary } from './run';
import type { SyncEvent } from './events';
import { EngageError, notFoundOutcome } from '../errors';

export class SyncRunner {
  private readonly inFlight = new Map<string, Promise<SyncSummary | undefined>>();
  private readonly controller = new AbortController();

  constructor(
    private readonly store: Store,
    private readonly config: AppConfig,
    /** Every run's events (the service's metrics subscribe here). */
    private readonly onEvent?: (e: SyncEvent) => void,
  ) {}

  isRunning(sourceId: string): boolean {
    return this.inFlight.has(sourceId);
  }

  /**
   * Starts a run in the background and returns its id at once. Throws
   * SyncBusyError when a run of the source is already going (here or, on
   * PostgreSQL, in another instance).
   */
  async trigger(sourceId: string, options: Partial<SyncOptions> = {}): Promise<{ runId: string; done: Promise<SyncSummary | undefined> }> {
    const source = this.config.sources.find((s) => s.id === sourceId);
    if (!source) throw new EngageError('config', notFoundOutcome('no such source'));
    if (this.inFlight.has(sourceId)) throw new SyncBusyError(sourceId);
    const elsewhere = (await this.store.listRuns({ sourceId, limit: 5 })).find((r) => r.status === 'running');
    if (elsewhere && this.store.kind === 'postgres') {
      // Another instance may hold it; the lock decides, but a fresh heartbeat is a reliable hint.
      if (Date.now() - elsewhere.heartbeatAt.getTime() < 60_000) throw new SyncBusyError(sourceId);
    }
    const runId = randomUUID();
    const events = (e: SyncEvent): void => {
      options.onEvent?.(e);
      this.onEvent?.(e);
    };
    const done = syncSource(this.store, this.config, source, { asOf: new Date(), signal: this.controller.signal, ...options, runId, onEvent: events })
      .catch((err: unknown) => {
        if (err instanceof SyncBusyError) logger().info({ sourceId }, 'sync skipped: a run of this source is in progress');
        else logger().error({ err, sourceId }, 'sync failed');
        return undefined;
      })
      .finally(() => this.inFlight.delete(sourceId));
    this.inFlight.set(sourceId, done);
    return { runId, done };
  }

  /** Asks running syncs to stop after their current page, and waits for them. */
  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.allSettled([...this.inFlight.values()]);
  }
}
