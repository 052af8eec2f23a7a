/**
 * What a write-back rule is given and how it builds its resources. Each rule (src/actions/rules/) is
 * a pure function of the patient's indicators, model, what was written before and the context (the
 * patient, `now`, the settings) that returns the resources it wants in the EMR, each with an
 * identifier from patient, rule and period so that writing it again never duplicates it.
 */
import type { EpisodeOfCare, Observation, Reference, Task } from '@medplum/fhirtypes';
import type { ActionSettings, RuleName } from '../config/action-settings';
import type { PatientIndicators } from '../indicators/compute';
import type { EngagementModel } from '../mapping/model';
import type { WrittenResource } from '../store/types';
import { ENGAGE_CODES } from './codes';
import { localDate, localMonth, UTC } from '../local-time';
import type { PhasedStart } from './surveys';

export interface DesiredUpsert {
  op: 'upsert';
  identifier: string;
  rule: RuleName;
  patientId: string;
  resourceType: 'Observation' | 'Task' | 'EpisodeOfCare';
  /** 0 = send first (safety), 1 = normal. */
  priority: number;
  resource: Observation | Task | EpisodeOfCare;
  /** Source resources the write is derived from (Provenance.entity). */
  entities: string[];
  /** The programme that asked for it (the first, when several did); set by planProgrammes. */
  programme?: string;
}

export interface RuleContext {
  patientId: string;
  now: Date;
  settings: ActionSettings;
  /** The clinic's IANA time zone (the programme's, else the source's); UTC when absent. */
  timeZone?: string;
  /** The programme's phased start for this patient (planProgrammes), when it has one. */
  phase?: PhasedStart;
}

export interface RuleInput {
  ind: PatientIndicators;
  model: EngagementModel;
  written: WrittenResource[];
  ctx: RuleContext;
}

/** A write-back rule: the resources it wants for one patient now. */
export type Rule = (input: RuleInput) => DesiredUpsert[];

export const isOn = (ctx: RuleContext, rule: RuleName): boolean => !ctx.settings.disabled.includes(rule);

/** The local month and day of the run in the clinic's zone: periods in identifiers follow the clinic's calendar. */
export const month = (ctx: RuleContext): string => localMonth(ctx.now.getTime(), ctx.timeZone ?? UTC);
export const dayOf = (ctx: RuleContext): string => localDate(ctx.now.getTime(), ctx.timeZone ?? UTC);
/** A reference usable wherever FHIR narrows the target type (Reference<never> is assignable to each). */
export const ref = (reference: string): Reference<never> => ({ reference });

export function code(
  settings: ActionSettings,
  c: string,
): { coding: { system: string; code: string; display: string }[] } {
  return { coding: [{ system: settings.codeSystem, code: c, display: ENGAGE_CODES[c] ?? c }] };
}

const OBS_CATEGORY = [
  {
    coding: [
      { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey', display: 'Survey' },
    ],
  },
];

export function observation(ctx: RuleContext, identifier: string, fields: Partial<Observation>): Observation {
  return {
    resourceType: 'Observation',
    identifier: [{ system: ctx.settings.identifierSystem, value: identifier }],
    status: 'final',
    category: OBS_CATEGORY,
    subject: ref(`Patient/${ctx.patientId}`),
    ...fields,
  } as Observation;
}

export function task(ctx: RuleContext, identifier: string, rule: RuleName, fields: Partial<Task>): Task {
  return {
    resourceType: 'Task',
    identifier: [{ system: ctx.settings.identifierSystem, value: identifier }],
    status: 'requested',
    intent: 'order',
    priority: 'routine',
    code: code(ctx.settings, rule),
    for: ref(`Patient/${ctx.patientId}`),
    authoredOn: ctx.now.toISOString(),
    // When fhir-engage last changed it (the run's as-of); read back, it dates what happened to the Task.
    lastModified: ctx.now.toISOString(),
    ...(ctx.settings.taskOwner ? { owner: ref(ctx.settings.taskOwner) } : {}),
    ...fields,
  } as Task;
}

/** The common fields of a rule's Task write. */
export const taskWrite = (ctx: RuleContext, rule: RuleName, priority = 1) => ({
  op: 'upsert' as const,
  patientId: ctx.patientId,
  resourceType: 'Task' as const,
  rule,
  priority,
});

/** The common fields of a rule's Observation write. */
export const observationWrite = (ctx: RuleContext, rule: RuleName) => ({
  op: 'upsert' as const,
  patientId: ctx.patientId,
  resourceType: 'Observation' as const,
  rule,
  priority: 1,
});
