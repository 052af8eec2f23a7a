/**
 * Runs syncs on demand (API) and on schedule, one at a time per source in this
 * process; the store's advisory lock keeps other processes out too.
 */
import { randomUUID } from 'node:crypto';
import type { AppConfig } from '../config/types';
import type { Store } from '../store/store';
import { logger } from '../log/logger';
import { SyncBusyError, syncSource, type SyncOptions } from './run';
import type { SyncSummary } from './events';
import type { SyncEvent } from './events';
import { describeError, EngageError, notFoundOutcome } from '../errors';

/** What a run in this process is doing now, for the dashboard's live view. */
export interface RunProgress {
  runId: string;
  sourceId: string;
  stage: 'pull' | 'compute' | 'dispatch' | 'finished';
  types: Record<string, { status: string; received: number; new: number; changed: number; deadLettered: number }>;
  computed: { patients: number; total: number };
  detail?: string;
  /** Why the run ended before the store could record it (a store outage as it started). */
  failedUnrecorded?: string;
  updatedAt: string;
}

export class SyncRunner {
  private readonly inFlight = new Map<string, Promise<SyncSummary | undefined>>();
  private readonly controller = new AbortController();
  private readonly progress = new Map<string, RunProgress>();
  private readonly schedules = new Map<string, () => Date | null>();

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
  async trigger(
    sourceId: string,
    options: Partial<SyncOptions> = {},
  ): Promise<{ runId: string; done: Promise<SyncSummary | undefined> }> {
    const source = this.config.sources.find((s) => s.id === sourceId);
    if (!source) throw new EngageError('config', notFoundOutcome('no such source'));
    if (this.inFlight.has(sourceId)) throw new SyncBusyError(sourceId);
    const elsewhere = (await this.store.listRuns({ sourceId, limit: 5 })).find((r) => r.status === 'running');
    if (elsewhere && this.store.kind === 'postgres') {
      // Another instance may hold it; the lock decides, but a fresh heartbeat is a reliable hint.
      if (Date.now() - elsewhere.heartbeatAt.getTime() < 60_000) throw new SyncBusyError(sourceId);
    }
    const runId = randomUUID();
    const live: RunProgress = {
      runId,
      sourceId,
      stage: 'pull',
      types: {},
      computed: { patients: 0, total: 0 },
      updatedAt: new Date().toISOString(),
    };
    this.progress.set(runId, live);
    const events = (e: SyncEvent): void => {
      track(live, e);
      options.onEvent?.(e);
      this.onEvent?.(e);
    };
    const done = syncSource(this.store, this.config, source, {
      asOf: new Date(),
      signal: this.controller.signal,
      ...options,
      runId,
      onEvent: events,
    })
      .catch((err: unknown) => {
        if (err instanceof SyncBusyError)
          logger().info({ sourceId }, 'sync skipped: a run of this source is in progress');
        else logger().error({ err, sourceId }, 'sync failed');
        live.failedUnrecorded =
          err instanceof SyncBusyError ? 'skipped: a run of this source was in progress' : describeError(err);
        return undefined;
      })
      .finally(() => {
        this.inFlight.delete(sourceId);
        live.stage = 'finished';
        // Kept a while for a dashboard still polling; the stored run is the record.
        setTimeout(() => this.progress.delete(runId), 600_000).unref();
      });
    this.inFlight.set(sourceId, done);
    return { runId, done };
  }

  /** Live progress of a run started by this process (undefined for others and after a while). */
  progressOf(runId: string): RunProgress | undefined {
    return this.progress.get(runId);
  }

  /** The scheduler says when a source runs next. */
  setSchedule(sourceId: string, nextRun: () => Date | null): void {
    this.schedules.set(sourceId, nextRun);
  }

  nextRun(sourceId: string): Date | null {
    return this.schedules.get(sourceId)?.() ?? null;
  }

  /** Asks running syncs to stop after their current page, and waits for them. */
  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.allSettled([...this.inFlight.values()]);
  }
}

function track(live: RunProgress, e: SyncEvent): void {
  live.updatedAt = new Date().toISOString();
  switch (e.type) {
    case 'stage':
      live.stage = e.stage;
      break;
    case 'bulk':
      live.detail = `bulk export: ${e.phase}${e.progress ? ` (${e.progress})` : ''}`;
      break;
    case 'type-started':
      live.types[e.resourceType] = { status: 'running', received: 0, new: 0, changed: 0, deadLettered: 0 };
      break;
    case 'page':
    case 'type-finished': {
      const r = e.report;
      live.types[r.resourceType] = {
        status: e.type === 'page' ? 'running' : r.status,
        received: r.received,
        new: r.new,
        changed: r.changed,
        deadLettered: r.deadLettered,
      };
      break;
    }
    case 'computed':
      live.computed = { patients: e.patients, total: e.total };
      break;
    default:
      break;
  }
}
