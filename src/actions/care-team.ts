/**
 * What a person of the care team does with a Task from the dashboard (docs/care-team.md): claim it,
 * assign it, start it, complete it with an outcome, cancel it with a reason, add a note; and a call or
 * note they log, as a FHIR Communication. Pure: the Task as the person saw it, the actor and `now` in,
 * the change (or the reason it cannot be made) out. The dispatcher applies the change to the EMR's
 * current Task (src/writeback/person-writes.ts).
 */
import type { Annotation, Communication, Reference, Task } from '@medplum/fhirtypes';
import { TERMINAL_TASK_STATUSES } from '../indicators/task-status';

/** Who acted: a signed-in person, or an API key (named by its id, never the key). */
export interface Actor {
  /** patient: the patient themself (a survey answered through its link, docs/surveys.md). */
  kind: 'person' | 'key' | 'patient';
  /** The person's subject at the identity provider, the key's id, or the patient's id in the source. */
  id: string;
  /** What people read: the person's name, or "API key key-…". */
  display: string;
}

export const TASK_ACTIONS = ['claim', 'assign', 'start', 'complete', 'cancel', 'note'] as const;
export type TaskActionName = (typeof TASK_ACTIONS)[number];

export interface TaskActionRequest {
  action: TaskActionName;
  /** assign: a Practitioner or PractitionerRole of the EMR, with the name it is shown by. */
  assignee?: { reference: string; display: string };
  /** complete: what came of it (required). */
  outcome?: string;
  /** cancel: why (required). */
  reason?: string;
  /** A note to add (required for `note`, optional for the others). */
  note?: string;
}

/** The fields a person's action sets on the Task; nothing else of the EMR's Task is touched. */
export interface TaskChange {
  status?: Task['status'];
  owner?: Task['owner'];
  businessStatus?: string;
  statusReason?: string;
  note?: Annotation;
}

/** A change that cannot be made, in words for the person who asked: a request to mend, or a Task that has ended. */
export class ActionRefused extends Error {
  constructor(
    message: string,
    readonly why: 'invalid' | 'ended' = 'invalid',
  ) {
    super(message);
  }
}

const MAX_TEXT = 2000;

function text(value: string | undefined, what: string, required: boolean): string | undefined {
  const v = value?.trim();
  if (!v) {
    if (required) throw new ActionRefused(`${what} is required`);
    return undefined;
  }
  if (v.length > MAX_TEXT) throw new ActionRefused(`${what} is longer than ${MAX_TEXT} characters`);
  return v;
}

/** The Reference a person is shown by on a Task they own (a display: fhir-engage knows no Practitioner id for a key). */
export const actorReference = (actor: Actor): NonNullable<Task['owner']> => ({ display: actor.display });

/** The owner a reference names, as people read it: its display, else the reference. */
export const ownerName = (owner: Reference | undefined): string | null => owner?.display ?? owner?.reference ?? null;

const STARTABLE = new Set(['draft', 'requested', 'received', 'accepted', 'ready', 'on-hold']);

/**
 * The change `request` makes to `task` by `actor` at `now`, or ActionRefused: a Task that has ended
 * takes no action, an assignee must be a Practitioner or PractitionerRole, completing needs an
 * outcome and cancelling a reason.
 */
export function taskChange(task: Task, request: TaskActionRequest, actor: Actor, now: Date): TaskChange {
  if (task.status && TERMINAL_TASK_STATUSES.has(task.status))
    throw new ActionRefused(`the Task has already ended (${task.status}) in the EMR`, 'ended');
  const noteText = text(request.note, 'the note', request.action === 'note');
  const note: Annotation | undefined = noteText
    ? { text: noteText, time: now.toISOString(), authorString: actor.display }
    : undefined;
  const withNote = (c: TaskChange): TaskChange => (note ? { ...c, note } : c);
  switch (request.action) {
    case 'claim':
      return withNote({
        owner: actorReference(actor),
        status: task.status === 'in-progress' ? 'in-progress' : 'accepted',
      });
    case 'assign': {
      const a = request.assignee;
      if (!a || !/^(Practitioner|PractitionerRole)\/[A-Za-z0-9\-.]{1,64}$/.test(a.reference))
        throw new ActionRefused('assign to a Practitioner or PractitionerRole of the EMR');
      // Assigned is not accepted: the Task stays requested until its new owner takes it on.
      return withNote({ owner: { reference: a.reference, display: text(a.display, 'the name', true) } });
    }
    case 'start':
      if (!STARTABLE.has(task.status ?? 'requested'))
        throw new ActionRefused(`a Task that is ${task.status} cannot be started`, 'ended');
      return withNote({ status: 'in-progress', ...(task.owner ? {} : { owner: actorReference(actor) }) });
    case 'complete':
      return withNote({
        status: 'completed',
        businessStatus: text(request.outcome, 'the outcome', true),
        ...(task.owner ? {} : { owner: actorReference(actor) }),
      });
    case 'cancel':
      return withNote({ status: 'cancelled', statusReason: text(request.reason, 'the reason', true) });
    case 'note':
      return { note: note as Annotation };
  }
}

/** `task` with `change` applied (the EMR's Task as it should read after the action). */
export function applyChange(task: Task, change: TaskChange, now: Date): Task {
  const next: Task = { ...task, lastModified: now.toISOString() };
  if (change.status) next.status = change.status;
  if (change.owner) next.owner = change.owner;
  if (change.businessStatus) next.businessStatus = { text: change.businessStatus };
  if (change.statusReason) next.statusReason = { text: change.statusReason };
  if (change.note) next.note = [...(task.note ?? []), change.note];
  return next;
}

/**
 * Whether `task` already reads as `change` made it: a retry after a crash between the EMR's answer and
 * fhir-engage's record finds its own change there and sends nothing again.
 */
export function changeApplied(task: Task, change: TaskChange): boolean {
  if (change.status && task.status !== change.status) return false;
  if (change.owner && (task.owner?.reference ?? null) !== (change.owner.reference ?? null)) return false;
  if (change.owner && (task.owner?.display ?? null) !== (change.owner.display ?? null)) return false;
  if (change.businessStatus && task.businessStatus?.text !== change.businessStatus) return false;
  if (change.statusReason && task.statusReason?.text !== change.statusReason) return false;
  const n = change.note;
  if (n && !(task.note ?? []).some((x) => x.text === n.text && x.time === n.time)) return false;
  return true;
}

export const CONTACT_KINDS = ['call', 'note'] as const;
export type ContactKind = (typeof CONTACT_KINDS)[number];

/**
 * A call or note logged by the care team as a FHIR Communication: completed, sent now, about the Task
 * when there is one, medium phone for a call (v3-ParticipationMode PHONE), written by the actor (a
 * display: see actorReference).
 */
export function contactCommunication(input: {
  kind: ContactKind;
  text: string | undefined;
  patientId: string;
  taskId?: string;
  identifierSystem: string;
  identifier: string;
  actor: Actor;
  now: Date;
}): Communication {
  const body = text(input.text, input.kind === 'call' ? 'what was said on the call' : 'the note', true) as string;
  return {
    resourceType: 'Communication',
    identifier: [{ system: input.identifierSystem, value: input.identifier }],
    status: 'completed',
    subject: { reference: `Patient/${input.patientId}` },
    ...(input.taskId ? { about: [{ reference: `Task/${input.taskId}` }] } : {}),
    ...(input.kind === 'call'
      ? {
          medium: [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode',
                  code: 'PHONE',
                  display: 'telephone',
                },
              ],
            },
          ],
          recipient: [{ reference: `Patient/${input.patientId}` }],
        }
      : {}),
    sent: input.now.toISOString(),
    sender: actorReference(input.actor),
    payload: [{ contentString: body }],
  } as Communication;
}
