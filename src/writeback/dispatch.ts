/**
 * Sends outbox rows to the write target, exactly once in effect: each write
 * is found by its identifier before anything is sent again, created with a
 * conditional create, updated with If-Match on the version read, and carries
 * a Provenance in the same transaction Bundle where the server supports
 * transactions. A Task a person has moved on in the EMR is recorded and left
 * alone. Failures after retries go to the dead letters with the EMR's
 * OperationOutcome.
 */
import type { OperationOutcome, Resource, Task } from '@medplum/fhirtypes';
import { HttpError, describeError, normalizeOperationOutcome } from '../errors';
import type { OutboxItem, WrittenState } from '../store/types';
import { comparableHash } from './content';
import { PERSON_OPS, type ClosePayload, type OutboxPayload, type UpsertPayload } from './outbox-item';
import { sendFreshTogether } from './create-batch';
import { findCurrent, send, type ServerCopy } from './send';
import { sendCreateOnce, sendTaskAction } from './person-writes';
import {
  count,
  isFinalRejection,
  MAX_WRITE_ATTEMPTS,
  WriteRejected,
  type DispatchContext,
  type DispatchCounts,
  type SendResult,
  type WriteOutcome,
} from './dispatch-context';

async function remember(
  ctx: DispatchContext,
  p: OutboxPayload,
  server: Resource | undefined,
  state: WrittenState,
  contentHash: string,
  target: string,
): Promise<void> {
  await ctx.store.upsertWritten({
    sourceId: ctx.sourceId,
    identifierValue: p.identifier,
    resourceType: p.resourceType,
    patientId: p.patientId,
    rule: p.rule,
    target,
    serverId: server?.id ?? null,
    versionId: server?.meta?.versionId ?? null,
    contentHash,
    status: (server as Task | undefined)?.status ?? null,
    state,
    runId: ctx.runId,
  });
}

/** Fields a person changes when they take a Task on; fhir-engage only ever writes status "requested" itself. */
function movedByPerson(current: Resource, written: { status: string | null } | undefined): boolean {
  if (current.resourceType !== 'Task') return false;
  const status = (current as Task).status;
  return status !== 'requested' && status !== written?.status;
}

async function sendUpsert(
  ctx: DispatchContext,
  p: UpsertPayload,
  target: string,
  firstAttempt: boolean,
  sentInBatch?: SendResult,
): Promise<WriteOutcome> {
  // A write sent in a batch was chosen because nothing was written under its identifier yet.
  const before = sentInBatch ? undefined : await ctx.store.getWritten(ctx.sourceId, p.identifier);
  // Never written and never tried: the conditional create alone is safe (the server matches the
  // identifier), which halves the requests of a first sync. Any retry looks the resource up first.
  let created: ServerCopy | undefined;
  if (!before && (firstAttempt || sentInBatch)) {
    const res = sentInBatch ?? (await send(ctx, p.resource, 'POST', p));
    if (res.status === 201) {
      await remember(ctx, p, res.resource, 'open', p.contentHash, target);
      return 'created';
    }
    if (res.status !== 200 || !res.resource?.id)
      throw new WriteRejected(
        res.status,
        res.outcome,
        `create of ${p.resourceType} ${p.identifier} answered HTTP ${res.status}`,
      );
    created = { resource: res.resource as Resource & { id: string }, versionId: res.resource.meta?.versionId };
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    const current = attempt === 0 && created ? created : await findCurrent(ctx, p, before?.serverId ?? null);
    if (!current) {
      const res = await send(ctx, p.resource, 'POST', p);
      if (res.status === 201 || res.status === 200) {
        await remember(ctx, p, res.resource, 'open', p.contentHash, target);
        return res.status === 201 ? 'created' : 'unchanged';
      }
      throw new WriteRejected(
        res.status,
        res.outcome,
        `create of ${p.resourceType} ${p.identifier} answered HTTP ${res.status}`,
      );
    }
    if (p.resourceType === 'Task' && movedByPerson(current.resource, before ?? undefined)) {
      await remember(ctx, p, current.resource, 'handled-by-person', p.contentHash, target);
      return 'left-to-person';
    }
    if (
      comparableHash(
        current.resource as unknown as Record<string, unknown>,
        p.resource as unknown as Record<string, unknown>,
      ) === p.contentHash
    ) {
      await remember(ctx, p, current.resource, 'open', p.contentHash, target);
      return 'unchanged';
    }
    const res = await send(ctx, { ...p.resource, id: current.resource.id } as Resource, 'PUT', p, current.versionId);
    if (res.status === 200 || res.status === 201) {
      await remember(ctx, p, res.resource, 'open', p.contentHash, target);
      return 'updated';
    }
    // 412: edited concurrently. Read it again and retry once.
    if (res.status === 412 && attempt === 0) continue;
    throw new WriteRejected(
      res.status,
      res.outcome,
      `update of ${p.resourceType} ${p.identifier} answered HTTP ${res.status}`,
    );
  }
  throw new WriteRejected(
    412,
    undefined,
    `update of ${p.resourceType} ${p.identifier} kept failing its If-Match (edited concurrently)`,
  );
}

/** A close's outcome: a Task marked failed (its reminder undeliverable) is an update, not a failed write. */
const closeOutcome = (status: ClosePayload['status']): WriteOutcome => (status === 'failed' ? 'updated' : status);

async function sendClose(ctx: DispatchContext, p: ClosePayload, target: string): Promise<WriteOutcome> {
  const before = await ctx.store.getWritten(ctx.sourceId, p.identifier);
  for (let attempt = 0; attempt < 2; attempt++) {
    const current = await findCurrent(ctx, p, p.serverId ?? before?.serverId ?? null);
    const hash = before?.contentHash ?? '';
    if (!current) {
      await remember(ctx, p, undefined, 'closed', hash, target);
      return closeOutcome(p.status);
    }
    const task = current.resource as Task;
    if (task.status === p.status) {
      await remember(ctx, p, task, 'closed', hash, target);
      return closeOutcome(p.status);
    }
    if (movedByPerson(task, before ?? undefined)) {
      await remember(ctx, p, task, 'handled-by-person', hash, target);
      return 'left-to-person';
    }
    const closed: Task = {
      ...task,
      status: p.status,
      statusReason: { text: p.reason },
      lastModified: p.at ?? ctx.now().toISOString(),
    };
    delete closed.meta;
    const res = await send(ctx, closed, 'PUT', p, current.versionId);
    if (res.status === 200) {
      await remember(ctx, p, res.resource, 'closed', hash, target);
      return closeOutcome(p.status);
    }
    if (res.status === 412 && attempt === 0) continue;
    throw new WriteRejected(res.status, res.outcome, `closing Task ${p.identifier} answered HTTP ${res.status}`);
  }
  throw new WriteRejected(412, undefined, `closing Task ${p.identifier} kept failing its If-Match`);
}

const LEASE_SECONDS = 300;
const BATCH = 20;

/** Claims and sends every pending outbox row of the source. */
export async function dispatchOutbox(ctx: DispatchContext): Promise<DispatchCounts> {
  const counts: DispatchCounts = { byType: {}, deadLettered: 0 };
  const seen = new Set<number>();
  const batchSize = ctx.transactions ? Math.max(1, ctx.writeBatchSize ?? 1) : 1;
  for (;;) {
    if (ctx.aborted?.()) return counts;
    const batch = (
      await ctx.store.claimOutbox({
        workerId: ctx.workerId,
        limit: Math.max(BATCH, batchSize),
        leaseSeconds: LEASE_SECONDS,
        sourceId: ctx.sourceId,
        ...(ctx.upToOutboxId !== undefined ? { upToId: ctx.upToOutboxId } : {}),
        ...(ctx.onlyIds ? { ids: ctx.onlyIds } : {}),
        ...(ctx.ops ? { ops: ctx.ops } : {}),
      })
    ).filter((i) => !seen.has(i.id));
    if (batch.length === 0) return counts;
    // New writes on their first attempt go together, one transaction per `batchSize`.
    const sentInBatch = await sendFreshTogether(ctx, batch, batchSize);
    for (const item of batch) {
      seen.add(item.id);
      await dispatchItem(ctx, item, sentInBatch.get(item.id), counts);
      ctx.onSettled?.();
    }
  }
}

function sendPayload(
  ctx: DispatchContext,
  p: OutboxPayload,
  item: OutboxItem,
  inBatch: SendResult | undefined,
): Promise<WriteOutcome> {
  switch (p.op) {
    case 'upsert':
      return sendUpsert(ctx, p, item.target, item.attempts === 1, inBatch);
    case 'close':
      return sendClose(ctx, p, item.target);
    case 'task-action':
      return sendTaskAction(ctx, p);
    case 'communication':
    case 'questionnaire-response':
    case 'definition':
      return sendCreateOnce(ctx, p);
  }
}

/** One claimed row: sent (or its batch's answer taken), then acked; a failure is retried later or dead-lettered. */
async function dispatchItem(
  ctx: DispatchContext,
  item: OutboxItem,
  inBatch: SendResult | Error | undefined,
  counts: DispatchCounts,
): Promise<void> {
  const p = item.payload as OutboxPayload;
  let outcome: WriteOutcome;
  try {
    if (inBatch instanceof Error) throw inBatch;
    outcome = await sendPayload(ctx, p, item, inBatch);
  } catch (err) {
    await recordFailure(ctx, item, err, counts);
    return;
  }
  // Outside the try: a crash here (the hook in tests) must leave the row claimed, as a killed process would.
  await ctx.afterSend?.(item);
  await ctx.store.ackOutbox(item.id, ctx.workerId, { outcome });
  count(counts, p.resourceType, outcome);
}

/** The EMR's considered "no", or the last attempt: a dead letter with its OperationOutcome; else tried again later. */
async function recordFailure(
  ctx: DispatchContext,
  item: OutboxItem,
  err: unknown,
  counts: DispatchCounts,
): Promise<void> {
  const p = item.payload as OutboxPayload;
  const rejected = isFinalRejection(err instanceof WriteRejected || err instanceof HttpError ? err.status : undefined);
  const outcome: OperationOutcome =
    (err instanceof WriteRejected ? err.outcome : err instanceof HttpError ? err.remoteOutcome : undefined) ??
    normalizeOperationOutcome(err);
  if (rejected || item.attempts >= MAX_WRITE_ATTEMPTS) {
    counts.deadLettered += await ctx.store.transaction(async (tx) => {
      await tx.failOutbox(item.id, ctx.workerId, { message: describeError(err) }, null);
      return tx.addDeadLetters([
        {
          sourceId: ctx.sourceId,
          runId: ctx.runId,
          stage: 'write',
          resourceType: p.resourceType,
          resourceId: p.identifier,
          payload: p,
          outcome,
        },
      ]);
    });
    count(counts, p.resourceType, 'failed');
  } else {
    // The transport already retried; try this row again in a later run or pass.
    // A person's write waits for nobody: the next dispatch (the next run) tries it again.
    const wait = (PERSON_OPS as readonly string[]).includes(p.op) ? 0 : 30 * item.attempts;
    await ctx.store.failOutbox(item.id, ctx.workerId, { message: describeError(err) }, wait);
    count(counts, p.resourceType, 'retry-later');
  }
}
