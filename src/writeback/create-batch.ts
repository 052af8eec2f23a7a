/**
 * New writes sent together: on their first attempt, the conditional creates of up to
 * `writeBatchSize` writes go in one transaction Bundle (each with its Provenance).
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, OperationOutcome } from '@medplum/fhirtypes';
import type { OutboxItem } from '../store/types';
import { entryResult, type DispatchContext, type SendResult } from './dispatch-context';
import type { OutboxPayload, UpsertPayload } from './outbox-item';
import { createEntry, provenanceEntry } from './requests';

/**
 * Sends the conditional creates of several new writes in one transaction
 * Bundle, each followed by its Provenance (whose target is the create's
 * urn:uuid). Returns each write's own answer. A transaction the server
 * rejects as a whole (a 4xx) is split in halves and sent again, down to
 * single writes, so that one bad write fails only itself; a 5xx or a network
 * error is thrown (the rows are tried again later).
 */
async function sendCreateBatch(ctx: DispatchContext, writes: UpsertPayload[]): Promise<SendResult[]> {
  const now = ctx.now();
  const entry: BundleEntry[] = [];
  for (const p of writes) {
    const fullUrl = `urn:uuid:${randomUUID()}`;
    entry.push(createEntry(fullUrl, p.resource, p), provenanceEntry(fullUrl, 'CREATE', p, ctx.runId, now));
  }
  const res = await ctx.client.request<Bundle | OperationOutcome>('POST', '', {
    body: { resourceType: 'Bundle', type: 'transaction', entry } satisfies Bundle,
  });
  if (res.status === 200 && res.body?.resourceType === 'Bundle') {
    const answered = res.body.entry ?? [];
    return writes.map((_p, i) => entryResult(answered[2 * i]));
  }
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
    if (writes.length === 1)
      return [{ status: res.status, ...(res.body?.resourceType === 'OperationOutcome' ? { outcome: res.body } : {}) }];
    const half = Math.ceil(writes.length / 2);
    return [
      ...(await sendCreateBatch(ctx, writes.slice(0, half))),
      ...(await sendCreateBatch(ctx, writes.slice(half))),
    ];
  }
  throw ctx.client.errorFor('POST', res);
}

/**
 * The new writes of a claimed batch (upserts on their first attempt with nothing written before),
 * sent `batchSize` to a transaction: each row's answer, or the error its group failed with.
 */
export async function sendFreshTogether(
  ctx: DispatchContext,
  batch: OutboxItem[],
  batchSize: number,
): Promise<Map<number, SendResult | Error>> {
  const sent = new Map<number, SendResult | Error>();
  if (batchSize <= 1) return sent;
  const fresh: OutboxItem[] = [];
  for (const item of batch) {
    const p = item.payload as OutboxPayload;
    if (p.op === 'upsert' && item.attempts === 1 && !(await ctx.store.getWritten(ctx.sourceId, p.identifier)))
      fresh.push(item);
  }
  for (let i = 0; i < fresh.length; i += batchSize) {
    const group = fresh.slice(i, i + batchSize);
    if (group.length < 2) continue;
    try {
      const results = await sendCreateBatch(
        ctx,
        group.map((g) => g.payload as UpsertPayload),
      );
      group.forEach((g, k) => sent.set(g.id, results[k] as SendResult));
    } catch (err) {
      for (const g of group) sent.set(g.id, err as Error);
    }
  }
  return sent;
}
