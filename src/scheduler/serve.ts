/**
 * The long-running service: the HTTP API, and each source's sync on its cron
 * schedule (node-cron). A scheduled tick runs once across all instances on one
 * database (a slot row claimed first), and never overlaps another run of the
 * same source (the advisory lock). SIGTERM/SIGINT stops the schedule, lets
 * running syncs commit the page in progress, and closes the API.
 */
import { runLine } from '../sync/run-summary';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import cron, { type ScheduledTask } from 'node-cron';
import { ensureOwnerOnlyDir, OWNER_FILE_MODE, restrictToOwner } from '../owner-only';
import type { AppConfig, SourceConfig } from '../config/types';
import type { Store } from '../store/store';
import { SyncRunner } from '../sync/runner';
import { logger } from '../log/logger';
import { createApiApp } from '../api/app';
import { newApiKey } from '../api/auth';
import { leaveLocalAccess, removeLocalAccess } from './local-cli-access';
import { listen } from '../listen';
import { Metrics } from '../api/metrics';
import type { SyncSummary } from '../sync/events';

export interface ServeOptions {
  store: Store;
  config: AppConfig;
  /** Where operator messages go (the CLI's stderr). */
  say: (line: string) => void;
  port: number;
  host?: string;
  apiKeys?: string[];
  /** Resolves when the service should stop (default: SIGTERM or SIGINT). */
  until?: Promise<void>;
  /** Runs already done before serving (the first sync of `start`), for the metrics. */
  initialRuns?: SyncSummary[];
  /** Called once the API listens (tests). */
  onListening?: (url: string) => void;
  instanceId?: string;
  /**
   * Where a key made on the first start is written (owner-only) instead of being said: set when the
   * messages go to a log a supervisor keeps (stderr not a terminal), which other people may read.
   */
  firstKeyFile?: string;
}

/**
 * With no FHIR_ENGAGE_API_KEY: the key fhir-engage made on its first start. Only its digest is
 * stored, so it is shown once, when it is made (`fhir-engage api-key new` makes another).
 */
export async function storedKeys(store: Store, say: (line: string) => void, firstKeyFile?: string): Promise<string[]> {
  const digests = await store.listApiKeyDigests();
  if (digests.length) {
    say(
      'API keys: those stored (hashed, not shown again; `fhir-engage api-key new` makes another, with a name, roles, sources and an expiry), or set FHIR_ENGAGE_API_KEY',
    );
    return digests;
  }
  const key = await newApiKey(store);
  if (firstKeyFile) {
    ensureOwnerOnlyDir(path.dirname(firstKeyFile));
    writeFileSync(firstKeyFile, `${key}\n`, { mode: OWNER_FILE_MODE });
    chmodSync(firstKeyFile, OWNER_FILE_MODE);
    say(
      `no FHIR_ENGAGE_API_KEY set: an API key was made and stored (hashed). It is in ${firstKeyFile} (mode 0600, this user only), not in this log: read it there, then delete the file`,
    );
  } else {
    say(`no FHIR_ENGAGE_API_KEY set: an API key was made and stored (hashed). It is shown this once, keep it: ${key}`);
  }
  return store.listApiKeyDigests();
}

/** The keys directory holds private keys: owner-only, checked at every start (fixed, with a warning). */
function secureKeysDir(keysDir: string): void {
  if (!existsSync(keysDir)) return;
  const wider = restrictToOwner(keysDir);
  if (wider.length > 0)
    logger().warn(
      { event: 'keys-permissions', keysDir, fixed: wider.length },
      `the keys directory ${keysDir} was open to other local users (${wider.length} entries wider than 0700/0600): made owner-only`,
    );
}

/** The scheduled tick a firing belongs to: its second for 6-field (seconds) expressions, else its minute. */
export function slotOf(date: Date, expression: string): Date {
  const unit = expression.trim().split(/\s+/).length === 6 ? 1000 : 60_000;
  return new Date(Math.floor(date.getTime() / unit) * unit);
}

/**
 * One firing of a source's schedule: the first instance to claim the tick runs
 * it; the others (and this one, if a run is still going) skip it. Returns the
 * run id when this instance started a run.
 */
export async function scheduledTick(
  store: Store,
  runner: SyncRunner,
  source: SourceConfig,
  firedAt: Date,
  instance: string,
): Promise<string | undefined> {
  const slot = slotOf(firedAt, source.schedule ?? '* * * * *');
  if (!(await store.claimSlot(source.id, slot, instance))) {
    logger().info({ sourceId: source.id, slot: slot.toISOString() }, 'scheduled sync taken by another instance');
    return undefined;
  }
  try {
    const { runId } = await runner.trigger(source.id, { asOf: new Date() });
    return runId;
  } catch (err) {
    logger().info({ sourceId: source.id, err }, 'scheduled sync not started');
    return undefined;
  }
}

/**
 * At start-up: a source whose last run was interrupted (or still says
 * "running" although its process died) is synced at once, so the work it left
 * (pull checkpoints, outbox) is finished without waiting for the next tick.
 * A run still alive in another instance holds the lock, and the resume skips.
 */
export async function resumeInterrupted(store: Store, runner: SyncRunner, config: AppConfig): Promise<string[]> {
  const resumed: string[] = [];
  for (const source of config.sources) {
    const [last] = await store.listRuns({ sourceId: source.id, limit: 1 });
    if (!last || (last.status !== 'running' && last.status !== 'interrupted')) continue;
    try {
      const { runId } = await runner.trigger(source.id, { asOf: new Date() });
      resumed.push(runId);
      logger().info({ sourceId: source.id, interruptedRun: last.id, runId }, 'resuming an interrupted sync');
    } catch (err) {
      logger().info({ sourceId: source.id, err }, 'interrupted sync not resumed now (a run is in progress)');
    }
  }
  return resumed;
}

export async function serve(options: ServeOptions): Promise<void> {
  const { store, config, say } = options;
  const instance = options.instanceId ?? `${os.hostname()}:${process.pid}`;
  // Signals are handled from the start: a SIGTERM while starting up still shuts down cleanly.
  let removeSignalHandlers = (): void => undefined;
  const stopRequested =
    options.until ??
    new Promise<void>((resolve) => {
      const stop = (): void => {
        removeSignalHandlers();
        clearInterval(purgeTimer);
        resolve();
      };
      removeSignalHandlers = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  const metrics = new Metrics();
  metrics.watch(store);
  for (const s of options.initialRuns ?? []) metrics.recordRun(s);
  // Each run (scheduled or asked for through the API) in one line where the service's messages go.
  const runner = new SyncRunner(store, config, (e) => {
    metrics.observe(e);
    if (e.type === 'run-finished') say(runLine(e.summary));
  });
  const apiKeys = options.apiKeys ?? [...config.service.apiKeys];
  secureKeysDir(config.keysDir);
  if (!apiKeys.length) await storedKeys(store, say, options.firstKeyFile);
  const app = createApiApp({ store, config, runner, metrics, apiKeys });
  const purge = (): void => {
    store
      .purgeAccessBefore(new Date(Date.now() - config.service.auditRetentionDays * 86_400_000))
      .catch((err: unknown) =>
        logger().warn({ err, event: 'access-log-purge-failed' }, 'could not remove old access-log rows'),
      );
  };
  purge();
  const purgeTimer = setInterval(purge, 86_400_000);
  purgeTimer.unref();
  const host = options.host ?? config.service.host;
  const { server, port } = await listen(app, options.port, host, '--port or FHIR_ENGAGE_PORT');
  const url = `http://${host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host}:${port}/api`;
  say(`API: ${url} (health ${url}/health, metrics ${url}/metrics, OpenAPI ${url}/openapi.json)`);
  say(`dashboard: ${url.replace(/\/api$/, '/')} (log in with the API key)`);
  await leaveLocalAccess(store, config, url);
  options.onListening?.(url);

  const tasks: ScheduledTask[] = [];
  for (const source of config.sources) {
    if (!source.schedule) continue;
    const task = cron.schedule(source.schedule, async (ctx) => {
      await scheduledTick(store, runner, source, ctx?.date instanceof Date ? ctx.date : new Date(), instance).catch(
        (err: unknown) => logger().error({ err, sourceId: source.id }, 'scheduler failed'),
      );
    });
    tasks.push(task);
    runner.setSchedule(source.id, () => task.getNextRun());
    say(`scheduled ${source.id}: "${source.schedule}"`);
  }
  const resumed = await resumeInterrupted(store, runner, config);
  if (resumed.length) say(`resuming ${resumed.length} interrupted sync(s)`);
  say('serving until SIGTERM or Ctrl-C');
  await stopRequested;
  removeSignalHandlers();
  say('stopping: running syncs commit their current page…');
  removeLocalAccess(config);
  for (const t of tasks) await t.stop();
  await runner.stop();
  await new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  say('stopped');
}
