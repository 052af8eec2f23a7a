/**
 * A first run that asks before it writes (docs/programme.md): a source that has never written holds
 * its first plan (approval.firstRun: hold, the default), and any later run whose plan exceeds both
 * holdFloor writes and holdAbove × the median of the last 10 runs that wrote is held too. A held plan
 * stays in the outbox; `fhir-engage approve` (approveAndSend) sends exactly that plan.
 */
import os from 'node:os';
import { approvalOf, type SourceConfig } from '../config/types';
import type { SafetyAlertSettings } from '../config/alert-settings';
import { deliverSafetyAlerts } from '../alerts/deliver';
import { configError, EngageError, conflict } from '../errors';
import { readCapabilities } from '../fhir/capabilities';
import { createWriteClient, newTransportStats } from '../fhir/source-client';
import { median } from '../indicators/programme';
import { LOCK_BUSY } from '../store/driver';
import type { WriteApproval } from '../store/approvals';
import type { Store } from '../store/store';
import { dispatchOutbox } from '../writeback/dispatch';
import type { DispatchCounts } from '../writeback/dispatch-context';
import type { WriteSummary } from './events';

/** Runs looked at for a source's usual volume of writes. */
const VOLUME_RUNS = 10;

const written = (w: Record<string, WriteSummary> | undefined): number =>
  Object.values(w ?? {}).reduce(
    (n, x) => n + (x.created ?? 0) + (x.updated ?? 0) + (x.cancelled ?? 0) + (x.completed ?? 0),
    0,
  );

/** Writes of the last VOLUME_RUNS runs of the source that wrote anything, newest first. */
async function recentVolumes(store: Store, sourceId: string): Promise<number[]> {
  const runs = await store.listRuns({ sourceId, limit: 100 });
  return runs
    .map((r) => written((r.counts as { writes?: Record<string, WriteSummary> }).writes))
    .filter((n) => n > 0)
    .slice(0, VOLUME_RUNS);
}

/**
 * Whether the source's pending writes wait for approval now: an open hold (its plan refreshed), or —
 * when `mayStart` (after this run's plan is made) — a new one for a first run or an unusual volume.
 */
export async function holdForApproval(
  store: Store,
  source: SourceConfig,
  runId: string,
  mayStart: boolean,
): Promise<WriteApproval | undefined> {
  const open = await store.openApproval(source.id);
  if (open) return (await store.refreshHold(open.id, runId, await store.pendingPlan(source.id))) ?? open;
  if (!mayStart) return undefined;
  const plan = await store.pendingPlan(source.id);
  if (plan.total === 0) return undefined;
  const settings = approvalOf(source);
  const everWrote = (await store.countWritten(source.id)).some((c) => c.n > 0);
  if (settings.firstRun === 'hold' && !everWrote && !(await store.everApproved(source.id)))
    return store.holdWrites(
      source.id,
      runId,
      'first-run',
      `the first writes to ${source.id}: ${plan.total} planned, held until approved`,
      plan,
    );
  const usual = median(await recentVolumes(store, source.id));
  if (usual !== null && plan.total > settings.holdFloor && plan.total > settings.holdAbove * usual)
    return store.holdWrites(
      source.id,
      runId,
      'volume',
      `${plan.total} writes planned, more than ${settings.holdAbove} × the usual ${usual} (median of the last runs that wrote) and more than ${settings.holdFloor}; held until approved`,
      plan,
    );
  return undefined;
}

/** The command that releases a held plan. */
export const approveCommand = (sourceId: string): string => `fhir-engage approve --source ${sourceId}`;

/**
 * Approves the source's held plan and sends exactly it (the pending outbox rows it summarised),
 * under the source's sync lock. `by` names who approved (kept with the hold).
 */
export async function approveAndSend(
  store: Store,
  source: SourceConfig,
  by: string,
  alerts?: SafetyAlertSettings,
): Promise<{ approval: WriteApproval; sent: DispatchCounts }> {
  const result = await store.tryWithAdvisoryLock(`sync:${source.id}`, async () => {
    const open = await store.openApproval(source.id);
    if (!open) throw configError(`nothing of ${source.id} is held for approval`, ['--source']);
    const approval = (await store.approveHold(open.id, by)) ?? open;
    const stats = newTransportStats();
    const writer = createWriteClient(source, stats);
    const caps = await readCapabilities(writer, []);
    const runId = `approve-${approval.id}`;
    const sent = await dispatchOutbox({
      store,
      client: writer,
      sourceId: source.id,
      runId,
      workerId: `${os.hostname()}:${process.pid}:${runId}`,
      transactions: caps.transactions,
      writeBatchSize: source.writeBatchSize,
      now: () => new Date(),
      upToOutboxId: approval.plan.upToOutboxId,
    });
    // Safety Tasks the approved plan put in the EMR are announced now, as a run would.
    await deliverSafetyAlerts(store, alerts, source.id, new Date());
    return { approval, sent };
  });
  if (result === LOCK_BUSY)
    throw new EngageError('internal', conflict(`a sync of ${source.id} is running: approve after it`));
  return result;
}
