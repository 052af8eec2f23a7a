/**
 * A run's beginning and end: recorded as started (stale runs and claims found under the lock), its
 * heartbeat, its end recorded through a store restart; and what can stop a run besides its end, and
 * how each is told: a stop request (interrupted), the loss
 * of the source lock's connection (another instance may now run the source), the run's deadline, and
 * a lost store connection; each failure names the stage it happened in.
 */
import { sourceLimits, type SourceConfig } from '../config/types';
import { describeError, storeError } from '../errors';
import { logger, type Logger } from '../log/logger';
import { isConnectionLoss } from '../store/refusal';
import type { Store } from '../store/store';
import type { RunRecord, RunStatus } from '../store/types';
import type { SyncOptions } from './run';
import type { SyncEvent } from './events';

const STAGE_NAMES: Record<Extract<SyncEvent, { type: 'stage' }>['stage'], string> = {
  pull: 'pull',
  compute: 'compute',
  dispatch: 'write-back',
};

const HEARTBEAT_MS = 15_000;
/** Waits before each attempt to record a run's end (ms): ~15 s in all, a server restart's length. */
const FINISH_RETRY_MS = [0, 250, 1000, 2000, 4000, 8000];

export class RunGuard {
  /** Where the run is, to say where a lost store connection stopped it. */
  private where = 'start-up';
  private lostDuring = 'start-up';
  private deadlineDuring = 'start-up';
  private readonly deadline: AbortSignal;
  readonly deadlineMinutes: number;
  /** Aborted by a stop request, the loss of the sync lock's connection, or the deadline. */
  readonly stop: AbortSignal;

  constructor(
    source: SourceConfig,
    private readonly lockLost: AbortSignal,
    private readonly signal: AbortSignal | undefined,
  ) {
    lockLost.addEventListener('abort', () => (this.lostDuring = this.where), { once: true });
    // A run never holds the source's lock for ever (a server that drips pages, a search that never ends).
    this.deadlineMinutes = sourceLimits(source).runDeadlineMinutes;
    this.deadline = AbortSignal.timeout(Math.round(this.deadlineMinutes * 60_000));
    this.deadline.addEventListener('abort', () => (this.deadlineDuring = this.where), { once: true });
    this.stop = AbortSignal.any([...(signal ? [signal] : []), lockLost, this.deadline]);
  }

  /** Follows the run's events to know its stage. */
  track(e: SyncEvent): void {
    if (e.type === 'stage') this.where = STAGE_NAMES[e.stage];
    else if (e.type === 'type-started') this.where = `pull of ${e.resourceType}`;
  }

  /** A stop request interrupts; a lost lock connection, the deadline or any error fails the run. */
  statusAfter(): RunStatus {
    return this.signal?.aborted && !this.lockLost.aborted && !this.deadline.aborted ? 'interrupted' : 'failed';
  }

  /** The run's error in words, naming the stage where it stopped. */
  describe(err: unknown): string {
    const resumes = 'the run stopped there and the next run resumes from what was stored';
    if (this.lockLost.aborted)
      return describeError(
        storeError(
          `${(this.lockLost.reason as Error).message} during the ${this.lostDuring}; ${resumes}`,
          this.lockLost.reason,
        ),
      );
    if (this.deadline.aborted && !this.signal?.aborted)
      return `error: the run passed its deadline of ${this.deadlineMinutes} minute(s) (limits.runDeadlineMinutes) during the ${this.deadlineDuring}; it stopped there, the source's lock is released, and the next run resumes from what was stored`;
    if (isConnectionLoss(err))
      // The statement's connection can fail before the lock's connection notices: the stage is named either way.
      return describeError(
        storeError(
          `the store's connection was lost (${(err as Error).message}) during the ${this.where}; ${resumes}`,
          err,
        ),
      );
    return describeError(err);
  }
}

/** Records the run's counts every HEARTBEAT_MS (a stale heartbeat marks a run whose process died). */
export function startHeartbeat(store: Store, runId: string, counts: Record<string, unknown>, log: Logger): () => void {
  const heartbeat = setInterval(() => {
    store
      .heartbeatRun(runId, counts)
      .catch((err: unknown) => log.warn({ err, event: 'heartbeat-failed' }, 'could not record the run heartbeat'));
  }, HEARTBEAT_MS);
  heartbeat.unref();
  return () => clearInterval(heartbeat);
}

/**
 * Records the end of a run. A connection the store lost mid-run may be handed out once more before the
 * pool drops it, and a restarting server refuses connections for a few seconds: tries for ~15 s before
 * giving up, so that a run does not stay "running" in the store after a restart it outlived.
 */
export async function recordRunEnd(finish: () => Promise<unknown>, log: Logger): Promise<void> {
  for (const wait of FINISH_RETRY_MS) {
    if (wait) await new Promise((r) => setTimeout(r, wait));
    try {
      await finish();
      return;
    } catch (err) {
      if (wait === FINISH_RETRY_MS[FINISH_RETRY_MS.length - 1]) {
        // The store may be what failed: say so; the next run marks this one interrupted under the lock.
        log.error({ err, event: 'finish-run-failed' }, 'could not record the end of the run');
      }
    }
  }
}

function warnIfPlainHttp(source: SourceConfig): void {
  for (const url of [source.baseUrl, source.writeTarget?.baseUrl]) {
    if (!url || !/^http:\/\//i.test(url)) continue;
    const host = new URL(url).hostname;
    if (host === 'localhost' || /^127\./.test(host) || host === '[::1]') continue;
    logger().warn(
      { event: 'plain-http', sourceId: source.id },
      `source ${source.id} reaches ${host} over plain http://: patient data crosses the network unencrypted; use https://`,
    );
  }
}

/** The run recorded as started, under the source's lock: stale runs marked interrupted, stale claims released. */
export async function openRun(
  store: Store,
  source: SourceConfig,
  options: SyncOptions,
  runId: string,
  emit: (e: SyncEvent) => void,
  log: Logger,
): Promise<{ run: RunRecord; resumed: string[] }> {
  warnIfPlainHttp(source);
  await store.upsertSource({ id: source.id, name: source.name, baseUrl: source.baseUrl });
  // Under the source's lock, any run of it still marked running belongs to a process that died.
  const resumed = (await store.markStaleRunsInterrupted(source.id, 0)).map((r) => r.id);
  // We hold the source's lock: no other dispatcher of this source is alive, so its claims are stale.
  const released = await store.releaseOutboxClaims(source.id);
  const run = await store.createRun({
    id: runId,
    sourceId: source.id,
    asOf: options.asOf,
    options: {
      full: !!options.full,
      dryRun: !!options.dryRun,
      ...(options.patients ? { patients: options.patients.length } : {}),
    },
  });
  emit({ type: 'run-started', runId, sourceId: source.id, asOf: options.asOf.toISOString(), resumed });
  log.info(
    { event: 'run-started', resumed, releasedWrites: released, full: !!options.full, dryRun: !!options.dryRun },
    'sync run started',
  );
  return { run, resumed };
}
