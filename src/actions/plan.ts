/**
 * Rules that turn a patient's indicators into the resources fhir-engage wants
 * in the EMR (docs/actions.md). Pure: indicators, model, what was written
 * before and `now` in; desired writes out. Every resource carries an
 * identifier (fhir-engage's system, a value from patient, rule and period), so
 * writing it again can never duplicate it.
 */
import type { Observation, Reference, Task } from '@medplum/fhirtypes';
import type { PatientIndicators } from '../indicators/compute';
import type { EngagementModel } from '../mapping/model';
import type { WrittenResource } from '../store/types';
import { ENGAGE_CODES } from './codes';
import type { ActionSettings, RuleName } from '../config/action-settings';
import {
  plannedReminders,
  reminderChannel,
  reminderIdentifiers,
  reminderInputs,
  reminderTaskFields,
  remindable,
} from './reminders';
import { periodicWindow, postVisitWindows, surveyTaskFields } from './surveys';
import { satisfactionResponses } from '../indicators/satisfaction';
import { TERMINAL_TASK_STATUSES } from '../indicators/task-status';

export interface DesiredUpsert {
  op: 'upsert';
  identifier: string;
  rule: RuleName;
  patientId: string;
  resourceType: 'Observation' | 'Task';
  /** 0 = send first (safety), 1 = normal. */
  priority: number;
  resource: Observation | Task;
  /** Source resources the write is derived from (Provenance.entity). */
  entities: string[];
}

export interface DesiredClose {
  op: 'close';
  identifier: string;
  rule: RuleName;
  patientId: string;
  resourceType: 'Task';
  priority: number;
  /** cancelled when the reason went away, completed when the rule says the goal was met. */
  status: 'cancelled' | 'completed';
  reason: string;
  serverId: string | null;
  entities: string[];
  /** When fhir-engage decided it (the run's as-of): the closed Task's lastModified. */
  at: string;
}

export type DesiredWrite = DesiredUpsert | DesiredClose;

export interface PlanResult {
  writes: DesiredWrite[];
  /** Tasks a person moved on whose reason has gone: fhir-engage forgets them (no request to the EMR). */
  forget: string[];
}

interface RuleContext {
  patientId: string;
  now: Date;
  settings: ActionSettings;
}

const OBS_CATEGORY = [
  {
    coding: [
      { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey', display: 'Survey' },
    ],
  },
];
const LOINC = 'http://loinc.org';

const month = (d: Date): string => d.toISOString().slice(0, 7);
const dayOf = (d: Date): string => d.toISOString().slice(0, 10);
/** A reference usable wherever FHIR narrows the target type (Reference<never> is assignable to each). */
const ref = (reference: string): Reference<never> => ({ reference });

function code(settings: ActionSettings, c: string): { coding: { system: string; code: string; display: string }[] } {
  return { coding: [{ system: settings.codeSystem, code: c, display: ENGAGE_CODES[c] ?? c }] };
}

function observation(ctx: RuleContext, identifier: string, fields: Partial<Observation>): Observation {
  return {
    resourceType: 'Observation',
    identifier: [{ system: ctx.settings.identifierSystem, value: identifier }],
    status: 'final',
    category: OBS_CATEGORY,
    subject: ref(`Patient/${ctx.patientId}`),
    ...fields,
  } as Observation;
}

function task(ctx: RuleContext, identifier: string, rule: RuleName, fields: Partial<Task>): Task {
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

function observationRules(ind: PatientIndicators, model: EngagementModel, ctx: RuleContext): DesiredUpsert[] {
  const out: DesiredUpsert[] = [];
  const on = (r: RuleName): boolean => !ctx.settings.disabled.includes(r);
  const base = { patientId: ctx.patientId, resourceType: 'Observation' as const, priority: 1 };
  if (on('engagement-score') && ind.engagement.score !== null) {
    const id = `${ctx.patientId}/engagement-score/${month(ctx.now)}`;
    out.push({
      ...base,
      op: 'upsert',
      identifier: id,
      rule: 'engagement-score',
      entities: [`Patient/${ctx.patientId}`],
      resource: observation(ctx, id, {
        code: code(ctx.settings, 'engagement-score'),
        effectiveDateTime: ctx.now.toISOString(),
        valueInteger: ind.engagement.score,
        component: [
          {
            code: code(ctx.settings, 'engagement-tier'),
            valueCodeableConcept: code(ctx.settings, ind.engagement.tier),
          },
        ],
        note: [{ text: ind.engagement.why }],
      }),
    });
  }
  if (on('appointment-adherence') && ind.appointments.adherence !== null) {
    const id = `${ctx.patientId}/appointment-adherence/${month(ctx.now)}`;
    out.push({
      ...base,
      op: 'upsert',
      identifier: id,
      rule: 'appointment-adherence',
      entities: [`Patient/${ctx.patientId}`],
      resource: observation(ctx, id, {
        code: code(ctx.settings, 'appointment-adherence'),
        effectiveDateTime: ctx.now.toISOString(),
        valueQuantity: {
          value: Math.round(ind.appointments.adherence * 1000) / 10,
          unit: '%',
          system: 'http://unitsofmeasure.org',
          code: '%',
        },
      }),
    });
  }
  if (on('patient-satisfaction')) {
    for (const s of satisfactionResponses(model, ctx.now)) {
      const id = `${ctx.patientId}/patient-satisfaction/${s.responseId}`;
      out.push({
        ...base,
        op: 'upsert',
        identifier: id,
        rule: 'patient-satisfaction',
        entities: [`QuestionnaireResponse/${s.responseId}`],
        resource: observation(ctx, id, {
          code: code(ctx.settings, 'patient-satisfaction'),
          effectiveDateTime: s.authored,
          valueInteger: s.recommend,
          ...(s.experience !== undefined
            ? {
                component: [
                  {
                    code: { text: 'experience (mean of 1-5 items)' },
                    valueQuantity: {
                      value: s.experience,
                      unit: '{score}',
                      system: 'http://unitsofmeasure.org',
                      code: '{score}',
                    },
                  },
                ],
              }
            : {}),
          derivedFrom: [ref(`QuestionnaireResponse/${s.responseId}`)],
        }),
      });
    }
  }
  if (on('questionnaire-total')) {
    // Totals only where fhir-engage computed them: a stated total is already in the EMR.
    for (const r of model.responses) {
      const s = r.score;
      if (!s || s.statedTotal !== undefined || s.computedTotal === undefined || r.status !== 'completed') continue;
      const loinc =
        s.instrument === 'phq9'
          ? { code: '44261-6', display: 'Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]' }
          : s.instrument === 'gad7'
            ? { code: '70274-6', display: 'Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]' }
            : undefined;
      if (!loinc) continue;
      const id = `${ctx.patientId}/${s.instrument}-total/${r.id}`;
      out.push({
        ...base,
        op: 'upsert',
        identifier: id,
        rule: 'questionnaire-total',
        entities: [`QuestionnaireResponse/${r.id}`],
        resource: observation(ctx, id, {
          code: {
            coding: [{ system: LOINC, ...loinc }],
            text: `${s.instrument === 'phq9' ? 'PHQ-9' : 'GAD-7'} total score`,
          },
          ...(r.authored ? { effectiveDateTime: r.authored } : {}),
          valueInteger: s.computedTotal,
          derivedFrom: [ref(`QuestionnaireResponse/${r.id}`)],
        }),
      });
    }
  }
  return out;
}

function taskRules(
  ind: PatientIndicators,
  model: EngagementModel,
  written: WrittenResource[],
  ctx: RuleContext,
): DesiredUpsert[] {
  const out: DesiredUpsert[] = [];
  const on = (r: RuleName): boolean => !ctx.settings.disabled.includes(r);
  const base = { patientId: ctx.patientId, resourceType: 'Task' as const, op: 'upsert' as const };

  if (on('phq9-item9-safety') && ind.phq9.item9.flagged && ind.phq9.item9.responseId) {
    const id = `${ctx.patientId}/phq9-item9-safety/${ind.phq9.item9.responseId}`;
    out.push({
      ...base,
      identifier: id,
      rule: 'phq9-item9-safety',
      priority: 0,
      entities: [`QuestionnaireResponse/${ind.phq9.item9.responseId}`],
      resource: task(ctx, id, 'phq9-item9-safety', {
        priority: 'stat',
        description:
          'PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered above 0 in the latest response: assess safety today.',
        reasonReference: ref(`QuestionnaireResponse/${ind.phq9.item9.responseId}`),
        ...(ind.phq9.item9.date ? { authoredOn: ind.phq9.item9.date } : {}),
      }),
    });
  }

  if (on('outreach-no-shows') && ind.appointments.noShowsRecent >= ctx.settings.outreachMinNoShows) {
    // One open outreach Task per episode: reuse the one already written (open, or taken on by a person).
    const current = written.find((w) => w.rule === 'outreach-no-shows' && w.state !== 'closed');
    const id = current?.identifierValue ?? `${ctx.patientId}/outreach-no-shows/${dayOf(ctx.now)}`;
    const lastNoShow = model.appointments
      .filter((a) => a.status === 'no-show' && a.start && Date.parse(a.start) <= ctx.now.getTime())
      .sort((a, b) => Date.parse(b.start as string) - Date.parse(a.start as string))[0];
    out.push({
      ...base,
      identifier: id,
      rule: 'outreach-no-shows',
      priority: 1,
      entities: lastNoShow ? [`Appointment/${lastNoShow.id}`] : [`Patient/${ctx.patientId}`],
      resource: task(ctx, id, 'outreach-no-shows', {
        description: `${ctx.settings.outreachMinNoShows} or more missed appointments in the last ${ind.appointments.recentDays} days: reach out to re-engage.`,
        ...(lastNoShow ? { reasonReference: ref(`Appointment/${lastNoShow.id}`) } : {}),
      }),
    });
  }

  if (on('phq9-follow-up') && ind.phq9.followUp.due && ind.phq9.followUp.after) {
    const after = ind.phq9.followUp.after;
    const id = `${ctx.patientId}/phq9-follow-up/${after.responseId}`;
    out.push({
      ...base,
      identifier: id,
      rule: 'phq9-follow-up',
      priority: 1,
      entities: [`QuestionnaireResponse/${after.responseId}`],
      resource: task(ctx, id, 'phq9-follow-up', {
        description: `PHQ-9 of ${after.total} (above 9) with no newer response since: repeat the PHQ-9 and review the care plan.`,
        reasonReference: ref(`QuestionnaireResponse/${after.responseId}`),
        ...(ind.phq9.followUp.dueSince ? { authoredOn: ind.phq9.followUp.dueSince } : {}),
      }),
    });
  }

  if (on('appointment-reminder')) {
    const channel = reminderChannel(model.patient.contacts, ctx.settings.reminders.channels, ctx.now);
    const idOf = (r: { appointmentId: string; leadDays: number }): string =>
      `${ctx.patientId}/appointment-reminder/${r.appointmentId}/${r.leadDays}d`;
    if (channel) {
      for (const r of plannedReminders(model, reminderIdentifiers(written), ctx.settings.reminders, ctx.now, idOf)) {
        const id = idOf(r);
        out.push({
          ...base,
          identifier: id,
          rule: 'appointment-reminder',
          priority: 1,
          entities: [`Appointment/${r.appointmentId}`],
          resource: task(
            ctx,
            id,
            'appointment-reminder',
            reminderTaskFields(r, reminderInputs(ctx.settings.codeSystem, channel, model.patient.language)),
          ),
        });
      }
    } else if (on('reminder-no-channel')) {
      // No way to remind: one Task for staff while an upcoming visit needs a reminder.
      const next = remindable(model, ctx.now).sort((a, b) => Date.parse(a.start) - Date.parse(b.start))[0];
      if (next) {
        const id = `${ctx.patientId}/reminder-no-channel`;
        out.push({
          ...base,
          identifier: id,
          rule: 'reminder-no-channel',
          priority: 1,
          entities: [`Patient/${ctx.patientId}`],
          resource: task(ctx, id, 'reminder-no-channel', {
            description:
              'No phone, SMS or email on file to remind the patient of an upcoming appointment: update the contact details or remind by other means.',
            focus: ref(`Appointment/${next.id}`),
          }),
        });
      }
    }
  }

  if (on('survey-assignment')) {
    for (const def of ctx.settings.surveys.periodic) {
      const prefix = `${ctx.patientId}/survey/${def.instrument}/`;
      const w = periodicWindow(
        model,
        def,
        written.filter((x) => x.rule === 'survey-assignment'),
        ctx.settings.surveys.windowDays,
        ctx.now,
        prefix,
      );
      if (!w) continue;
      const id = `${prefix}${w.key}`;
      out.push({
        ...base,
        identifier: id,
        rule: 'survey-assignment',
        priority: 1,
        entities: w.answeredBy ? [`QuestionnaireResponse/${w.answeredBy}`] : [`Patient/${ctx.patientId}`],
        resource: task(ctx, id, 'survey-assignment', surveyTaskFields(w, ctx.settings.codeSystem)),
      });
    }
  }

  const postVisit = ctx.settings.surveys.postVisit;
  if (on('post-visit-survey') && postVisit) {
    for (const w of postVisitWindows(model, postVisit, ctx.settings.surveys.windowDays, ctx.now)) {
      const id = `${ctx.patientId}/post-visit-survey/${w.key}`;
      out.push({
        ...base,
        identifier: id,
        rule: 'post-visit-survey',
        priority: 1,
        entities: [
          `Appointment/${w.appointmentId}`,
          ...(w.answeredBy ? [`QuestionnaireResponse/${w.answeredBy}`] : []),
        ],
        resource: task(ctx, id, 'post-visit-survey', surveyTaskFields(w, ctx.settings.codeSystem)),
      });
    }
  }

  if (on('overdue-activity')) {
    for (const activityId of ind.carePlans.overdue) {
      const activity = model.activities.find((a) => a.id === activityId);
      if (!activity) continue;
      const id = `${ctx.patientId}/overdue-activity/${activityId}`;
      out.push({
        ...base,
        identifier: id,
        rule: 'overdue-activity',
        priority: 1,
        entities: [`CarePlan/${activity.planId}`],
        resource: task(ctx, id, 'overdue-activity', {
          description: 'A care-plan activity is past its due date and not done: review it with the patient.',
          reasonReference: ref(`CarePlan/${activity.planId}`),
          ...(activity.due ? { authoredOn: activity.due } : {}),
        }),
      });
    }
  }
  return out;
}

/** What to do when a rule's reason has gone: complete the follow-up (answered), cancel the rest; never close a safety Task. */
function closeStatus(rule: RuleName): 'cancelled' | 'completed' | undefined {
  if (rule === 'phq9-item9-safety') return undefined;
  if (rule === 'phq9-follow-up') return 'completed';
  return 'cancelled';
}

const CLOSE_REASON: Partial<Record<RuleName, string>> = {
  'outreach-no-shows': 'no longer 2 or more no-shows in the lookback window',
  'phq9-follow-up': 'a newer PHQ-9 response arrived',
  'overdue-activity': 'the activity is done, cancelled or no longer overdue',
  'appointment-reminder':
    'the appointment was cancelled, missed, rescheduled to an earlier day than this reminder, or has passed',
  'reminder-no-channel': 'the patient can be reminded now, or has no upcoming appointment',
  'survey-assignment': 'the window to answer closed without a response',
  'post-visit-survey': 'the window to answer closed without a response',
};

export function planPatient(
  ind: PatientIndicators,
  model: EngagementModel,
  written: WrittenResource[],
  settings: ActionSettings,
  now: Date,
): PlanResult {
  const ctx: RuleContext = { patientId: model.patientId, now, settings };
  const byId = new Map(written.map((w) => [w.identifierValue, w]));
  // No outreach, follow-up or scores about a patient who has died or whose record is no longer active;
  // their open Tasks are cancelled below like any other whose reason has gone.
  const reachable = model.patient.deceased !== true && model.patient.active !== false;
  const desired = reachable ? [...taskRules(ind, model, written, ctx), ...observationRules(ind, model, ctx)] : [];
  const wanted = new Set(desired.map((d) => d.identifier));
  // A Task a person has taken on in the EMR is left to them while its reason holds.
  const writes: DesiredWrite[] = desired.filter((d) => byId.get(d.identifier)?.state !== 'handled-by-person');
  const forget: string[] = [];
  for (const w of written) {
    // A Task that ended (fhir-engage completed it, or it ended in the EMR) is never closed again.
    if (
      w.resourceType !== 'Task' ||
      wanted.has(w.identifierValue) ||
      w.state === 'closed' ||
      (w.state === 'open' && w.status !== null && TERMINAL_TASK_STATUSES.has(w.status))
    )
      continue;
    const rule = w.rule as RuleName;
    if (settings.disabled.includes(rule)) continue;
    if (w.state === 'handled-by-person') {
      forget.push(w.identifierValue);
      continue;
    }
    const status = closeStatus(rule);
    if (!status) continue;
    writes.push({
      op: 'close',
      identifier: w.identifierValue,
      rule,
      patientId: w.patientId,
      resourceType: 'Task',
      priority: 1,
      status,
      reason: CLOSE_REASON[rule] ?? 'the reason no longer holds',
      serverId: w.serverId,
      entities: [`Patient/${w.patientId}`],
      at: now.toISOString(),
    });
  }
  writes.sort((a, b) => a.priority - b.priority);
  return { writes, forget };
}
