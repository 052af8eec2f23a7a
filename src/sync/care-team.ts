/**
 * The care team's writes from the dashboard (docs/care-team.md): a Task action or a logged call is
 * stored in the outbox first (once per request id), then sent at once through the dispatcher (If-Match,
 * Provenance naming the person); when the EMR cannot be reached it stays queued and the next run sends
 * it. The answer says what happened: written, already so, a conflict (the Task moved: its current state
 * is stored and shown), refused by the EMR, or queued.
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Task } from '@medplum/fhirtypes';
import {
  ActionRefused,
  contactCommunication,
  ownerName,
  taskChange,
  type Actor,
  type ContactKind,
  type TaskActionRequest,
} from '../actions/care-team';
import type { SourceConfig } from '../config/types';
import { conflict, notFoundOutcome, EngageError, badRequest } from '../errors';
import { readCapabilities } from '../fhir/capabilities';
import type { FhirClient } from '../fhir/client';
import { createSourceClient, createWriteClient, newTransportStats } from '../fhir/source-client';
import type { Store } from '../store/store';
import type { OutboxItem } from '../store/types';
import { dispatchOutbox } from '../writeback/dispatch';
import type { CommunicationPayload, TaskActionPayload } from '../writeback/outbox-item';

/** A person waits for the answer: one retry and 15 s at most per request (a run retries more). */
const PATIENT_WAIT = { maxRetries: 1, timeoutMs: 15_000 };
/** How long a source's write client and its capabilities are reused between actions. */
const CLIENT_TTL_MS = 10 * 60_000;

const clients = new Map<string, { client: FhirClient; transactions: boolean; at: number }>();

async function writerFor(source: SourceConfig): Promise<{ client: FhirClient; transactions: boolean }> {
  const cached = clients.get(source.id);
  if (cached && Date.now() - cached.at < CLIENT_TTL_MS) return cached;
  const client = createWriteClient(
    {
      ...source,
      timeoutMs: Math.min(source.timeoutMs ?? PATIENT_WAIT.timeoutMs, PATIENT_WAIT.timeoutMs),
      maxRetries: PATIENT_WAIT.maxRetries,
    },
    newTransportStats(),
  );
  const caps = await readCapabilities(client, []);
  const entry = { client, transactions: caps.transactions, at: Date.now() };
  clients.set(source.id, entry);
  return entry;
}

export type PersonWriteState = 'written' | 'unchanged' | 'conflict' | 'refused' | 'queued';

export interface PersonWriteResult {
  /** The outbox row (GET /api/sources/{id}/care-team/writes/{writeId} answers it again). */
  writeId: number;
  state: PersonWriteState;
  /** In words, for the person who asked. */
  message: string;
}

/** The row's state in words: what the person sees after they acted. */
export function resultOf(row: OutboxItem): PersonWriteResult {
  const outcome = (row.result as { outcome?: string } | null)?.outcome;
  const error = (row.lastError as { message?: string } | null)?.message;
  const base = { writeId: row.id };
  const p = row.payload as { op?: string; action?: string; resource?: { medium?: unknown } };
  const what = p.op === 'task-action' ? `The ${p.action}` : p.resource?.medium ? 'The call' : 'The note';
  if (row.state === 'sent') {
    if (outcome === 'conflict')
      return {
        ...base,
        state: 'conflict',
        message: `${what} was not written: the Task changed in the EMR since you saw it; here it is as it is now`,
      };
    if (outcome === 'unchanged') return { ...base, state: 'unchanged', message: `${what}: the EMR already had it` };
    return { ...base, state: 'written', message: `${what}: written to the EMR` };
  }
  if (row.state === 'failed')
    return { ...base, state: 'refused', message: `${what}: the EMR refused it (${error ?? 'no reason given'})` };
  return {
    ...base,
    state: 'queued',
    message: `${what} is saved; the EMR did not answer${error ? ` (${error})` : ''}: it is sent again at the next run`,
  };
}

/** Sends the row now (unless it was sent already, a repeated request) and answers its state. */
export async function sendNow(store: Store, source: SourceConfig, row: OutboxItem): Promise<PersonWriteResult> {
  if (row.state === 'pending') {
    try {
      const { client, transactions } = await writerFor(source);
      const runId = `care-team-${row.id}`;
      await dispatchOutbox({
        store,
        client,
        sourceId: source.id,
        runId,
        workerId: `${os.hostname()}:${process.pid}:${runId}`,
        transactions,
        writeBatchSize: 1,
        now: () => new Date(),
        onlyIds: [row.id],
      });
    } catch {
      // The EMR could not be reached (its capabilities, a token): the row waits for the next run.
      clients.delete(source.id);
    }
  }
  return resultOf((await store.outboxRow(source.id, row.id)) ?? row);
}

const target = (source: SourceConfig): string => source.writeTarget?.baseUrl ?? source.baseUrl;

function requestKey(source: SourceConfig, requestId: string | undefined): string {
  if (requestId !== undefined && !/^[A-Za-z0-9-]{8,64}$/.test(requestId))
    throw new EngageError('validation', badRequest('requestId must be 8 to 64 letters, digits or dashes'));
  return `${target(source)}|person|${requestId ?? randomUUID()}`;
}

/**
 * A person's action on one of fhir-engage's Tasks (by its id in the EMR). `seen` is the Task's status
 * and owner as the page showed them (default: as stored).
 */
export async function actOnTask(
  store: Store,
  source: SourceConfig,
  identifierSystem: string,
  input: {
    taskId: string;
    request: TaskActionRequest;
    actor: Actor;
    requestId?: string;
    seen?: { status: string | null; owner: string | null };
  },
): Promise<PersonWriteResult & { patientId: string }> {
  const written = await store.getWrittenByServerId(source.id, input.taskId);
  if (!written || written.resourceType !== 'Task')
    throw new EngageError('validation', notFoundOutcome('no such Task of fhir-engage in this source'));
  const stored = (await store.getResource(source.id, 'Task', input.taskId))?.resource as Task | undefined;
  const task: Task = stored ?? {
    resourceType: 'Task',
    status: (written.status ?? 'requested') as Task['status'],
    intent: 'order',
  };
  const now = new Date();
  let change;
  try {
    change = taskChange(task, input.request, input.actor, now);
  } catch (err) {
    if (err instanceof ActionRefused)
      throw new EngageError('validation', err.why === 'ended' ? conflict(err.message) : badRequest(err.message));
    throw err;
  }
  const payload: TaskActionPayload = {
    op: 'task-action',
    identifierSystem,
    identifier: written.identifierValue,
    rule: written.rule,
    patientId: written.patientId,
    resourceType: 'Task',
    serverId: input.taskId,
    action: input.request.action,
    seen: input.seen ?? { status: task.status ?? null, owner: ownerName(task.owner) },
    change,
    actor: input.actor,
    at: now.toISOString(),
    entities: [`Task/${input.taskId}`],
  };
  const row = await store.enqueuePersonWrite(source.id, {
    target: target(source),
    dedupeKey: requestKey(source, input.requestId),
    resourceType: 'Task',
    payload,
  });
  return { ...(await sendNow(store, source, row)), patientId: written.patientId };
}

/** A call or note the care team logs about a patient (and a Task of theirs): a Communication in the EMR. */
export async function logContact(
  store: Store,
  source: SourceConfig,
  identifierSystem: string,
  input: { patientId: string; kind: ContactKind; text: string; taskId?: string; actor: Actor; requestId?: string },
): Promise<PersonWriteResult> {
  if (!(await store.getResource(source.id, 'Patient', input.patientId)))
    throw new EngageError('validation', notFoundOutcome('no such patient in this source'));
  if (input.taskId && (await store.getWrittenByServerId(source.id, input.taskId))?.patientId !== input.patientId)
    throw new EngageError('validation', notFoundOutcome('no such Task of fhir-engage for this patient'));
  const dedupeKey = requestKey(source, input.requestId);
  const identifier = `care-team-contact/${input.patientId}/${dedupeKey.split('|').pop() as string}`;
  let resource;
  try {
    resource = contactCommunication({ ...input, identifierSystem, identifier, now: new Date() });
  } catch (err) {
    if (err instanceof ActionRefused) throw new EngageError('validation', badRequest(err.message));
    throw err;
  }
  const payload: CommunicationPayload = {
    op: 'communication',
    identifierSystem,
    identifier,
    rule: 'care-team-contact',
    patientId: input.patientId,
    resourceType: 'Communication',
    resource,
    actor: input.actor,
    entities: [`Patient/${input.patientId}`, ...(input.taskId ? [`Task/${input.taskId}`] : [])],
  };
  const row = await store.enqueuePersonWrite(source.id, {
    target: target(source),
    dedupeKey,
    resourceType: 'Communication',
    payload,
  });
  return sendNow(store, source, row);
}

/** Practitioners of the EMR whose name matches (for assigning a Task), by reference and name. */
export async function searchCareTeam(
  source: SourceConfig,
  name: string,
): Promise<{ reference: string; display: string }[]> {
  const client = createSourceClient({ ...source, ...PATIENT_WAIT }, newTransportStats());
  const bundle = await client.getBundle(`Practitioner?${new URLSearchParams({ name, _count: '20' })}`);
  return (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((r) => r?.resourceType === 'Practitioner' && typeof r.id === 'string')
    .map((r) => {
      const n = (r as { name?: { text?: string; given?: string[]; family?: string }[] }).name?.[0];
      const display = n?.text ?? [...(n?.given ?? []), n?.family].filter(Boolean).join(' ');
      return { reference: `Practitioner/${r?.id as string}`, display: display || `Practitioner/${r?.id as string}` };
    });
}
