/**
 * The FHIR requests fhir-engage writes with, built in one place for the
 * dispatcher and the dry run: a conditional create by fhir-engage's
 * identifier, an update (with If-Match when a version is known), and the
 * Provenance that goes with each write. Pure: no I/O.
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Resource, Task } from '@medplum/fhirtypes';
import type { DefinitionPayload, OutboxPayload } from './outbox-item';
import { provenanceFor } from './provenance';

/** `identifier=system|value`, URL-encoded: finds the one resource a planned write stands for. */
export function conditionalQuery(p: Pick<OutboxPayload, 'identifierSystem' | 'identifier'> & { op?: string }): string {
  if (p.op === 'definition') {
    // A published form is found by its canonical url and version, as any server indexes them.
    const q = (p as DefinitionPayload).resource;
    return `url=${encodeURIComponent(q.url ?? '')}${q.version ? `&version=${encodeURIComponent(q.version)}` : ''}`;
  }
  return `identifier=${encodeURIComponent(`${p.identifierSystem}|${p.identifier}`)}`;
}

export function createEntry(fullUrl: string, resource: Resource, p: OutboxPayload): BundleEntry {
  return { fullUrl, resource, request: { method: 'POST', url: p.resourceType, ifNoneExist: conditionalQuery(p) } };
}

export function updateEntry(
  fullUrl: string,
  resource: Resource & { id: string },
  version: string | undefined,
): BundleEntry {
  return {
    fullUrl,
    resource,
    request: {
      method: 'PUT',
      url: `${resource.resourceType}/${resource.id}`,
      ...(version ? { ifMatch: `W/"${version}"` } : {}),
    },
  };
}

export function provenanceEntry(
  target: string,
  activity: 'CREATE' | 'UPDATE',
  p: OutboxPayload,
  runId: string,
  recorded: Date,
): BundleEntry {
  return {
    fullUrl: `urn:uuid:${randomUUID()}`,
    resource: provenanceFor(target, activity, p.entities, runId, recorded, 'actor' in p ? p.actor : undefined),
    request: { method: 'POST', url: 'Provenance' },
  };
}

/**
 * The transaction Bundle a dry run prints: each planned write with its
 * Provenance. A close is shown as a conditional update of the Task found by
 * its identifier (the dispatcher reads the Task first and updates its id).
 */
export function dryRunBundle(payloads: OutboxPayload[], runId: string, asOf: Date): Bundle {
  const entry: BundleEntry[] = [];
  for (const p of payloads) {
    const fullUrl = `urn:uuid:${randomUUID()}`;
    if (p.op === 'upsert') {
      entry.push(createEntry(fullUrl, p.resource, p));
    } else if (p.op === 'close') {
      const task: Task = {
        resourceType: 'Task',
        identifier: [{ system: p.identifierSystem, value: p.identifier }],
        status: p.status,
        statusReason: { text: p.reason },
        intent: 'order',
        for: { reference: `Patient/${p.patientId}` },
      };
      entry.push({ fullUrl, resource: task, request: { method: 'PUT', url: `Task?${conditionalQuery(p)}` } });
    } else continue; // a person's action is never planned by a run
    entry.push(provenanceEntry(fullUrl, p.op === 'upsert' ? 'CREATE' : 'UPDATE', p, runId, asOf));
  }
  return { resourceType: 'Bundle', type: 'transaction', entry };
}
