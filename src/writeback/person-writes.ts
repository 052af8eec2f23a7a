/**
 * Writes a person asked for from the dashboard (docs/care-team.md), with the outbox's discipline:
 * a Task action is applied to the EMR's current Task with If-Match on the version just read, and
 * only when the Task still reads as the person saw it (else a conflict: the current Task is stored
 * so the page shows it, and nothing is written); a retry that finds its own change already there
 * sends nothing. A logged call or note is a conditional create of a Communication by its
 * identifier. Each write carries a Provenance naming the person (or key) and fhir-engage.
 */
import type { Communication, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { applyChange, changeApplied, ownerName } from '../actions/care-team';
import { taskEvent } from '../fhir/readback';
import { patientIdFromReference } from '../mapping/patient-of';
import { WriteRejected, type DispatchContext, type WriteOutcome } from './dispatch-context';
import type {
  CommunicationPayload,
  DefinitionPayload,
  QuestionnaireResponsePayload,
  TaskActionPayload,
} from './outbox-item';
import { findCurrent, send } from './send';

/** The EMR's Task stored as read (the page shows it) with its status event; on success, fhir-engage leaves it to the person. */
async function recordTask(ctx: DispatchContext, p: TaskActionPayload, task: Task, acted: boolean): Promise<void> {
  const event = taskEvent(task, p.identifierSystem);
  const before = acted ? await ctx.store.getWritten(ctx.sourceId, p.identifier) : undefined;
  await ctx.store.transaction(async (tx) => {
    await tx.upsertResources(ctx.sourceId, ctx.runId, [
      { resource: task as never, patientId: patientIdFromReference(task.for?.reference) ?? p.patientId },
    ]);
    if (event) await tx.recordTaskEvents(ctx.sourceId, [event]);
    // A Task a person has acted on is theirs: runs neither overwrite nor close it (actions/plan.ts).
    if (before)
      await tx.upsertWritten({
        ...before,
        serverId: task.id ?? before.serverId,
        versionId: task.meta?.versionId ?? null,
        status: task.status ?? null,
        state: 'handled-by-person',
        runId: ctx.runId,
      });
  });
}

/** Whether the Task moved since the person saw it (its status or owner), so that their action may not apply. */
function movedSince(task: Task, seen: TaskActionPayload['seen']): boolean {
  return (task.status ?? null) !== seen.status || ownerName(task.owner) !== seen.owner;
}

export async function sendTaskAction(ctx: DispatchContext, p: TaskActionPayload): Promise<WriteOutcome> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const current = await findCurrent(ctx, p, p.serverId);
    if (!current) throw new WriteRejected(404, undefined, `Task ${p.serverId} is no longer in the EMR`);
    const task = current.resource as Task;
    if (changeApplied(task, p.change)) {
      await recordTask(ctx, p, task, true);
      return 'unchanged';
    }
    if (movedSince(task, p.seen)) {
      await recordTask(ctx, p, task, false);
      return 'conflict';
    }
    const next = applyChange(task, p.change, new Date(p.at));
    delete next.meta;
    const res = await send(ctx, next, 'PUT', p, current.versionId);
    if (res.status === 200 || res.status === 201) {
      await recordTask(ctx, p, (res.resource as Task | undefined) ?? next, true);
      return 'updated';
    }
    // 412: changed between our read and our write. Read it again: our own change, or a conflict.
    if (res.status === 412 && attempt === 0) continue;
    throw new WriteRejected(
      res.status,
      res.outcome,
      `the ${p.action} of Task ${p.serverId} answered HTTP ${res.status}`,
    );
  }
  return 'conflict';
}

/** A Communication or a patient's QuestionnaireResponse, created once; the EMR's copy stored (runs compute from it). */
export async function sendCreateOnce(
  ctx: DispatchContext,
  p: CommunicationPayload | QuestionnaireResponsePayload | DefinitionPayload,
): Promise<WriteOutcome> {
  const res = await send(ctx, p.resource, 'POST', p);
  if (res.status !== 201 && res.status !== 200)
    throw new WriteRejected(
      res.status,
      res.outcome,
      `create of ${p.resourceType} ${p.identifier} answered HTTP ${res.status}`,
    );
  const written = res.resource as Communication | QuestionnaireResponse | undefined;
  if (written?.id && p.op !== 'definition')
    await ctx.store.upsertResources(ctx.sourceId, ctx.runId, [{ resource: written as never, patientId: p.patientId }]);
  // 200: the conditional create found it (written before a crash): nothing new was made.
  return res.status === 201 ? 'created' : 'unchanged';
}
