/**
 * Sends outbox rows to the write target, exactly once in effect: each write
 * is found by its identifier before anything is sent again, created with a
 * conditional create, updated with If-Match on the version read, and carries
 * a Provenance in the same transaction Bundle where the server supports
 * transactions. A Task a person has moved on in the EMR is recorded and left
 * alone. Failures after retries go to the dead letters with the EMR's
 * OperationOutcome.
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, OperationOutcome, Resource, Task } from '@medplum/fhirtypes';
import { HttpError, describeError, normalizeOperationOutcome } from '../errors';
import type { OutboxItem, WrittenState } from '../store/types';
import { comparableHash } from './content';
import type { ClosePayload, OutboxPayload, UpsertPayload } from './outbox-item';
import { provenanceFor } from './provenance';
import { conditionalQuery, createEntry, provenanceEntry, updateEntry } from './requests';
import { sendFreshTogether } from './create-batch';
import {
  count,
  entryResult,
  isFinalRejection,
  MAX_WRITE_ATTEMPTS,
  WriteRejected,
  type DispatchContext,
  type DispatchCounts,
  type SendResult,
  type WriteOutcome,
} from './dispatch-context';

interface ServerCopy {
  resource: Resource & { id: string };
  versionId?: string;
}

async function findCurrent(
  ctx: DispatchContext,
  p: OutboxPayload,
  serverId: string | null,
): Promise<ServerCopy | undefined> {
  if (serverId) {
    const res = await ctx.client.request<Resource & { id: string }>('GET', `${p.resourceType}/${serverId}`);
    if (res.status === 200) return { resource: res.body, versionId: res.body.meta?.versionId };
    if (res.status !== 404 && res.status !== 410) throw ctx.client.errorFor('GET', res);
  }
  const bundle = await ctx.client.getBundle(`${p.resourceType}?${conditionalQuery(p)}`);
  const found = (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is Resource & { id: string } => r?.resourceType === p.resourceType && typeof r.id === 'string');
  const first = found[0];
  return first ? { resource: first, versionId: first.meta?.versionId } : undefined;
}

/** Sends the write (and its Provenance) and returns the server's copy of the written resource. */
async function send(
  ctx: DispatchContext,
  resource: Resource,
  method: 'POST' | 'PUT',
  p: OutboxPayload,
  version?: string,
): Promise<{ status: number; resource?: Resource; outcome?: OperationOutcome }> {
  const type = p.resourceType;
  const now = ctx.now();
  const activity = method === 'POST' ? 'CREATE' : 'UPDATE';
  const conditional = conditionalQuery(p);
  if (ctx.transactions) {
    const fullUrl = method === 'POST' ? `urn:uuid:${randomUUID()}` : `${ctx.client.baseUrl}/${type}/${resource.id}`;
    const target = method === 'POST' ? fullUrl : `${type}/${resource.id}`;
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        method === 'POST'
          ? createEntry(fullUrl, resource, p)
          : updateEntry(fullUrl, resource as Resource & { id: string }, version),
        provenanceEntry(target, activity, p, ctx.runId, now),
      ],
    };
    const res = await ctx.client.request<Bundle | OperationOutcome>('POST', '', { body: bundle });
    if (res.status !== 200 || res.body?.resourceType !== 'Bundle') {
      const outcome = res.body?.resourceType === 'OperationOutcome' ? res.body : undefined;
      return { status: res.status, ...(outcome ? { outcome } : {}) };
    }
    return entryResult(res.body.entry?.[0]);
  }
  const res =
    method === 'POST'
      ? await ctx.client.request<Resource>('POST', type, { body: resource, headers: { 'if-none-exist': conditional } })
      : await ctx.client.request<Resource>('PUT', `${type}/${resource.id}`, {
          body: resource,
          headers: version ? { 'if-match': `W/"${version}"` } : {},
        });
  if (res.status === 201 || (method === 'PUT' && res.status === 200)) {
    const written = res.body as Resource;
    const prov = await ctx.client.request('POST', 'Provenance', {
      body: provenanceFor(`${type}/${written.id}`, activity, p.entities, ctx.runId, now),
    });
    if (prov.status >= 300) throw ctx.client.errorFor('POST', prov);
  }
  return {
    status: res.status,
    resource: res.body as Resource,
    ...(res.body?.resourceType === 'OperationOutcome' ? { outcome: res.body as OperationOutcome } : {}),
  };
}

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

async function sendClose(ctx: DispatchContext, p: ClosePayload, target: string): Promise<WriteOutcome> {
  const before = await ctx.store.getWritten(ctx.sourceId, p.identifier);
  for (let attempt = 0; attempt < 2; attempt++) {
    const current = await findCurrent(ctx, p, p.serverId ?? before?.serverId ?? null);
    const hash = before?.contentHash ?? '';
    if (!current) {
      await remember(ctx, p, undefined, 'closed', hash, target);
      return p.status;
    }
    const task = current.resource as Task;
    if (task.status === p.status) {
      await remember(ctx, p, task, 'closed', hash, target);
      return p.status;
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
      return p.status;
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
      })
    ).filter((i) => !seen.has(i.id));
    if (batch.length === 0) return counts;
    // New writes on their first attempt go together, one transaction per `batchSize`.
    const sentInBatch = await sendFreshTogether(ctx, batch, batchSize);
    for (const item of batch) {
      seen.add(item.id);
      await dispatchItem(ctx, item, sentInBatch.get(item.id), counts);
    }
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
    outcome =
      p.op === 'upsert'
        ? await sendUpsert(ctx, p, item.target, item.attempts === 1, inBatch)
        : await sendClose(ctx, p, item.target);
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
    await ctx.store.failOutbox(item.id, ctx.workerId, { message: describeError(err) }, 30 * item.attempts);
    count(counts, p.resourceType, 'retry-later');
  }
}
