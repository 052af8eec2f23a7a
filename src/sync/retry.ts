/**
 * Retrying a dead letter, stage by stage, in one place (the API and any
 * other caller use this):
 * - validate: the resource is validated again and, if valid now, stored
 *   through the source's own mappings (which patient it belongs to);
 * - map: the resource is mapped again with the current mapping files; if it
 *   maps (and its patient is known), its patient is recomputed by the next sync;
 * - write: the planned write is queued again in the outbox;
 * - actions, pull, indicators: nothing can be replayed; the answer says why.
 * A retry that cannot succeed answers with the reason and changes nothing.
 */
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { AppConfig } from '../config/types';
import { EngageError, notFoundOutcome, unprocessable } from '../errors';
import { mapResource, mappingOutcome } from '../mapping/evaluate';
import { loadMappings, type MappingSet } from '../mapping/load';
import { patientIdentifierIndex } from '../mapping/patient-ref';
import { patientOfWithMappings } from '../mapping/patient-of';
import type { Store } from '../store/store';
import type { DeadLetter } from '../store/types';
import { sharedValidator } from '../validation/validator';
import type { OutboxPayload } from '../writeback/outbox-item';

export interface RetryDone {
  retried: true;
  action: string;
}

/** A retry refused: unprocessable as it stands (422), with the reason as an OperationOutcome. */
export class RetryRefused extends EngageError {
  constructor(result: OperationOutcome | string) {
    super('validation', unprocessable(result));
  }
}

function refused(text: string): RetryRefused {
  return new RetryRefused(text);
}

/** The outcome's issues without diagnostics, which can quote the resource. */
function safeIssues(o: OperationOutcome | undefined): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: (o?.issue ?? []).map((i) => ({
      severity: i.severity,
      code: i.code,
      expression: i.expression,
      details: i.details,
    })),
  };
}

function pulledResource(letter: DeadLetter): Resource {
  const r = letter.payload as Resource | null;
  if (!r || typeof r !== 'object' || typeof r.resourceType !== 'string')
    throw refused('this dead letter has no resource to retry');
  if (!r.id)
    throw refused(`this ${r.resourceType} has no id: it cannot be stored; the EMR must send it again with one`);
  return r;
}

/** The patient of a dead-lettered resource, resolved as a sync would (source mappings, base URL, patients' identifiers). */
async function patientOfLetter(
  store: Store,
  config: AppConfig,
  letter: DeadLetter,
  resource: Resource,
  mappings: MappingSet,
): Promise<string | null> {
  const baseUrl = config.sources.find((s) => s.id === letter.sourceId)?.baseUrl;
  const patientByIdentifier = patientIdentifierIndex(await store.patientRoster(letter.sourceId));
  const found = patientOfWithMappings(mappings)(resource, { ...(baseUrl ? { baseUrl } : {}), patientByIdentifier });
  if (found && 'reason' in found) throw refused(`still no patient: ${found.reason}`);
  return found?.id ?? null;
}

async function retryValidate(store: Store, config: AppConfig, letter: DeadLetter): Promise<RetryDone> {
  const resource = pulledResource(letter);
  const check = sharedValidator().validate(resource);
  if (!check.valid) throw new RetryRefused(safeIssues(check.outcome));
  const patientId = await patientOfLetter(
    store,
    config,
    letter,
    resource,
    loadMappings({ sourceId: letter.sourceId, overridesDir: config.mappingsDir }),
  );
  await store.transaction(async (tx) => {
    await tx.upsertResources(letter.sourceId, letter.runId, [{ resource: resource as never, patientId }]);
    await tx.resolveDeadLetter(letter.id);
  });
  return { retried: true, action: 'the resource is valid now and stored; the next sync of the source maps it' };
}

async function retryMap(store: Store, config: AppConfig, letter: DeadLetter): Promise<RetryDone> {
  const resource = pulledResource(letter);
  const mappings = loadMappings({ sourceId: letter.sourceId, overridesDir: config.mappingsDir });
  const patientId = await patientOfLetter(store, config, letter, resource, mappings);
  if (patientId && !(await store.getResource(letter.sourceId, 'Patient', patientId))) {
    throw refused(
      `the patient this ${resource.resourceType} refers to is still unknown to the source: it is retried once the EMR returns that Patient`,
    );
  }
  const mapping = mappings[resource.resourceType];
  if (mapping) {
    const mapped = mapResource(mapping, resource, { skip: new Set(['patient']) });
    if (!mapped.ok) throw new RetryRefused(safeIssues(mappingOutcome(resource.resourceType, mapped.failures, mapping)));
  }
  await store.transaction(async (tx) => {
    await tx.upsertResources(letter.sourceId, letter.runId, [{ resource: resource as never, patientId }]);
    // Same content is not re-stored: mark it changed so that its patient is recomputed.
    await tx.touchResource(letter.sourceId, resource.resourceType, resource.id as string);
    await tx.resolveDeadLetter(letter.id);
  });
  return { retried: true, action: 'the resource maps now; its patient is recomputed by the next sync of the source' };
}

async function retryWrite(store: Store, config: AppConfig, letter: DeadLetter): Promise<RetryDone> {
  const payload = letter.payload as OutboxPayload | null;
  const source = config.sources.find((s) => s.id === letter.sourceId);
  if (!payload || typeof payload !== 'object' || !payload.identifier || !payload.resourceType)
    throw refused('this dead letter has no planned write to retry');
  if (!source) throw refused(`source "${letter.sourceId}" is no longer configured: its writes cannot be sent`);
  const target = source.writeTarget?.baseUrl ?? source.baseUrl;
  await store.transaction(async (tx) => {
    await tx.enqueueOutbox(letter.sourceId, letter.runId, [
      { target, dedupeKey: `${target}|${payload.identifier}`, resourceType: payload.resourceType, payload },
    ]);
    await tx.resolveDeadLetter(letter.id);
  });
  return { retried: true, action: 'write re-queued; it is sent by the next sync of the source' };
}

const NOT_RETRYABLE: Record<string, string> = {
  actions:
    "fhir-engage's own planned resource failed validation: fix the rule or its settings; the next sync plans it again (dismiss this one)",
  pull: 'an error the EMR reported while searching: there is no resource to replay; the next sync searches again',
  indicators: 'an indicator could not be computed: the next sync computes it again',
};

/** Retries dead letter `id`; throws RetryRefused (422) with the reason, or a not-found error. */
export async function retryDeadLetter(store: Store, config: AppConfig, id: number): Promise<RetryDone> {
  const letter = Number.isSafeInteger(id) && id > 0 ? await store.getDeadLetter(id) : undefined;
  if (!letter) throw new EngageError('validation', notFoundOutcome('no such dead letter'));
  switch (letter.stage) {
    case 'validate':
      return retryValidate(store, config, letter);
    case 'map':
      return retryMap(store, config, letter);
    case 'write':
      return retryWrite(store, config, letter);
    default:
      throw refused(NOT_RETRYABLE[letter.stage] ?? `dead letters of the ${letter.stage} stage cannot be retried`);
  }
}
