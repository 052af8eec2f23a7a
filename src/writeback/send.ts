/**
 * One write and its Provenance, sent: in one transaction Bundle where the server supports
 * transactions, else the write and then its Provenance; and the EMR's current copy of a resource,
 * found by its server id or by fhir-engage's identifier. Used by the dispatcher for planned writes
 * and for writes a person asked for (person-writes.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { OutboxPayload } from './outbox-item';
import { provenanceFor } from './provenance';
import { conditionalQuery, createEntry, provenanceEntry, updateEntry } from './requests';
import { entryResult, type DispatchContext } from './dispatch-context';

export interface ServerCopy {
  resource: Resource & { id: string };
  versionId?: string;
}

export async function findCurrent(
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
export async function send(
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
      body: provenanceFor(
        `${type}/${written.id}`,
        activity,
        p.entities,
        ctx.runId,
        now,
        'actor' in p ? p.actor : undefined,
      ),
    });
    if (prov.status >= 300) throw ctx.client.errorFor('POST', prov);
  }
  return {
    status: res.status,
    resource: res.body as Resource,
    ...(res.body?.resourceType === 'OperationOutcome' ? { outcome: res.body as OperationOutcome } : {}),
  };
}
