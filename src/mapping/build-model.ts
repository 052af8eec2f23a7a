/**
 * Builds one patient's engagement model from the resources stored for them.
 * Pure: same resources, same mappings → same model (items sorted by id, no clock).
 */
import type { Questionnaire, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { MappingSet } from './load';
import { mapResource, mappingOutcome, type MappedRecord } from './evaluate';
import { ACTIVITY_STATUSES, APPOINTMENT_STATUSES, RESPONSE_STATUSES } from './model';
import type {
  Answer,
  ActivityItem,
  ActivityStatus,
  AppointmentItem,
  AppointmentStatus,
  ContactKind,
  EngagementModel,
  RequestItem,
  ResponseItem,
  ResponseStatus,
} from './model';
import {
  answerPoints,
  collectAnswers,
  recogniseInstrument,
  scoreResponse,
  type InstrumentDefinition,
  type QuestionnaireLookup,
} from './scoring';

export interface MappingFailure {
  resource: Resource;
  outcome: OperationOutcome;
}

export interface BuildResult {
  model: EngagementModel;
  failures: MappingFailure[];
}

export interface MappingContext {
  mappings: MappingSet;
  instruments: InstrumentDefinition[];
  questionnaires?: QuestionnaireLookup;
}

const APPOINTMENT_STATUS_SET = new Set<AppointmentStatus>(APPOINTMENT_STATUSES);
const ACTIVITY_STATUS_SET = new Set<ActivityStatus>(ACTIVITY_STATUSES);
const RESPONSE_STATUS_SET = new Set<ResponseStatus>(RESPONSE_STATUSES);

const ATTACHED: ReadonlySet<string> = new Set(['patient']);
const str = (v: unknown): string | undefined => (v === undefined ? undefined : String(v));
const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function pick<T extends string>(allowed: Set<T>, v: unknown): T {
  return allowed.has(v as T) ? (v as T) : ('other' as T);
}

function latest(values: (string | undefined)[]): string | undefined {
  let best: string | undefined;
  for (const v of values) if (v && (!best || Date.parse(v) > Date.parse(best))) best = v;
  return best;
}

/** Looks up Questionnaires among the given resources by canonical URL or Questionnaire/<id>. */
export function questionnaireLookup(questionnaires: Questionnaire[]): QuestionnaireLookup {
  const byKey = new Map<string, Questionnaire>();
  for (const q of questionnaires) {
    if (q.url) byKey.set(q.url, q);
    if (q.id) byKey.set(`Questionnaire/${q.id}`, q);
  }
  return (ref) => byKey.get(ref) ?? byKey.get(ref.replace(/^.*\/(Questionnaire\/[^/]+)$/, '$1'));
}

type Adder = (model: EngagementModel, r: MappedRecord, resource: Resource, ctx: MappingContext) => void;

function addPatient(model: EngagementModel, r: MappedRecord): void {
  model.patient = {
    ...(r.active !== undefined ? { active: Boolean(r.active) } : {}),
    ...(r.deceased !== undefined ? { deceased: Boolean(r.deceased) } : {}),
    ...(r.gender !== undefined ? { gender: String(r.gender) } : {}),
    ...(r.birthYear !== undefined ? { birthYear: Number(r.birthYear) } : {}),
    ...(r.language !== undefined ? { language: String(r.language) } : {}),
    ...(r.hasPhone !== undefined ? { hasPhone: Boolean(r.hasPhone) } : {}),
    ...(r.hasEmail !== undefined ? { hasEmail: Boolean(r.hasEmail) } : {}),
    ...(r.absent ? { absent: r.absent } : {}),
  };
  const contacts: ContactKind[] = (r.lists?.contacts ?? [])
    .filter((c) => c.system !== undefined)
    .map((c) => ({
      system: String(c.system),
      ...(c.use !== undefined ? { use: String(c.use) } : {}),
      ...(c.rank !== undefined ? { rank: Number(c.rank) } : {}),
      ...(c.until !== undefined ? { until: String(c.until) } : {}),
    }));
  if (contacts.length) model.patient.contacts = contacts;
}

function addAppointment(model: EngagementModel, r: MappedRecord): void {
  const item: AppointmentItem = { id: String(r.id), status: pick(APPOINTMENT_STATUS_SET, r.status) };
  if (r.start !== undefined) item.start = String(r.start);
  if (r.end !== undefined) item.end = String(r.end);
  if (r.sourceStatus !== undefined) item.sourceStatus = String(r.sourceStatus);
  if (r.serviceType !== undefined) item.serviceType = String(r.serviceType);
  const codes = codingsOf(r.lists?.codes);
  if (codes.length) item.codes = codes;
  const actors = (r.lists?.actors ?? []).map((a) => careActor(a.reference)).filter((a): a is string => !!a);
  if (actors.length) item.actors = [...new Set(actors)];
  if (r.absent) item.absent = r.absent;
  model.appointments.push(item);
}

/** Codings as `system|code` (`code` alone without a system), each once. */
function codingsOf(list: Record<string, unknown>[] | undefined): string[] {
  const out = (list ?? []).map((c) =>
    c.system !== undefined ? `${String(c.system)}|${String(c.code)}` : String(c.code),
  );
  return [...new Set(out)];
}

/** A practitioner, role, location or service reference as `Type/id` (relative, absolute or versioned); others are left out. */
function careActor(reference: unknown): string | undefined {
  const m =
    /(?:^|\/)(Practitioner|PractitionerRole|Location|HealthcareService)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(
      String(reference ?? ''),
    );
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/** A care plan with its category codings, and each of its activities with the plan's status. */
function addCarePlan(model: EngagementModel, r: MappedRecord): void {
  model.carePlans.push({
    id: String(r.id),
    ...(r.status !== undefined ? { status: String(r.status) } : {}),
    codes: codingsOf(r.lists?.categories),
  });
  (r.lists?.activities ?? []).forEach((a, i) => {
    const item: ActivityItem = {
      id: `${r.id}#${i}`,
      planId: String(r.id),
      status: pick(ACTIVITY_STATUS_SET, a.status),
    };
    if (r.status !== undefined) item.planStatus = String(r.status);
    if (a.description !== undefined) item.description = String(a.description);
    if (a.sourceStatus !== undefined) item.sourceStatus = String(a.sourceStatus);
    if (a.start !== undefined) item.start = String(a.start);
    if (a.due !== undefined) item.due = String(a.due);
    model.activities.push(item);
  });
}

/** A response with its answers, its instrument when recognised, and its score. */
function addResponse(model: EngagementModel, r: MappedRecord, resource: Resource, ctx: MappingContext): void {
  const freeText = new Set<Answer>();
  const answers = collectAnswers((resource as QuestionnaireResponse).item, [], freeText);
  const def = recogniseInstrument(
    { questionnaire: str(r.questionnaire) },
    answers,
    ctx.instruments,
    ctx.questionnaires,
  );
  // Minimum necessary: what a patient wrote in their own words stays in the EMR (and the pulled resource),
  // not in the model; a free-text answer is kept only where the instrument scores it ("Not at all").
  const kept = answers.filter(
    (a) => !freeText.has(a) || (def !== undefined && answerPoints(a.value, def) !== undefined),
  );
  const item: ResponseItem = { id: String(r.id), status: pick(RESPONSE_STATUS_SET, r.status), answers: kept };
  if (r.questionnaire !== undefined) item.questionnaire = String(r.questionnaire);
  if (r.authored !== undefined) item.authored = String(r.authored);
  if (r.sourceStatus !== undefined) item.sourceStatus = String(r.sourceStatus);
  if (r.absent) item.absent = r.absent;
  if (def) {
    item.instrument = def.instrument;
    item.score = scoreResponse(answers, def);
  }
  model.responses.push(item);
}

/** Requests of a questionnaire, including fhir-engage's own survey assignments (read back from the EMR). */
function addRequest(model: EngagementModel, r: MappedRecord, _resource: Resource, ctx: MappingContext): void {
  if (r.questionnaire === undefined) return;
  const def = recogniseInstrument({ questionnaire: String(r.questionnaire) }, [], ctx.instruments, ctx.questionnaires);
  const item: RequestItem = { id: String(r.id), questionnaire: String(r.questionnaire) };
  if (r.status !== undefined) item.status = String(r.status);
  if (r.authoredOn !== undefined) item.authoredOn = String(r.authoredOn);
  if (def) item.instrument = def.instrument;
  if (r.ownTask === true) item.own = true;
  if (r.due !== undefined) item.due = String(r.due);
  model.requests.push(item);
}

/** How each mapped type enters the model. */
const ADD: Partial<Record<string, Adder>> = {
  Patient: addPatient,
  Appointment: addAppointment,
  CarePlan: addCarePlan,
  QuestionnaireResponse: addResponse,
  Task: addRequest,
};

/**
 * Maps `resources` (the patient and everything stored for them) into the model.
 * Resources whose mapping fails are returned as failures and left out.
 */
export function buildModel(
  sourceId: string,
  patientId: string,
  resources: Resource[],
  ctx: MappingContext,
): BuildResult {
  const failures: MappingFailure[] = [];
  const model: EngagementModel = {
    sourceId,
    patientId,
    patient: {},
    appointments: [],
    carePlans: [],
    activities: [],
    responses: [],
    requests: [],
  };
  for (const resource of resources) {
    const mapping = ctx.mappings[resource.resourceType];
    if (!mapping) continue;
    // The caller has attached the resource to its patient already (any reference form): the field is not read again.
    const result = mapResource(mapping, resource, { skip: ATTACHED });
    if (!result.ok) {
      failures.push({ resource, outcome: mappingOutcome(resource.resourceType, result.failures, mapping) });
      continue;
    }
    ADD[resource.resourceType]?.(model, result.record, resource, ctx);
  }
  model.appointments.sort(byId);
  model.carePlans.sort(byId);
  model.activities.sort(byId);
  model.responses.sort(byId);
  model.requests.sort(byId);
  const lastContact = latest([
    ...model.appointments.filter((a) => a.status === 'kept').map((a) => a.start),
    ...model.responses.filter((q) => q.status === 'completed').map((q) => q.authored),
    ...model.activities.filter((a) => a.status === 'completed').map((a) => a.due ?? a.start),
  ]);
  if (lastContact) model.lastContact = lastContact;
  return { model, failures };
}
