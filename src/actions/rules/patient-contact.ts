/** Tasks that reach the patient: appointment reminders (or a Task for staff when there is no way to remind), surveys. */
import {
  plannedReminders,
  reminderChannel,
  reminderIdentifiers,
  reminderInputs,
  reminderTaskFields,
  remindable,
} from '../reminders';
import type { Task } from '@medplum/fhirtypes';
import { isOn, ref, task, taskWrite, type Rule, type RuleContext } from '../rule';
import {
  periodicWindow,
  postVisitWindows,
  SDC_COMPLETE_QUESTIONNAIRE,
  surveyTaskFields,
  type SurveyWindow,
} from '../surveys';
import { UTC } from '../../local-time';

/** A survey Task: fhir-engage's code first (how its rules and lists know it), then SDC's (how a patient app finds it). */
function surveyTask(
  ctx: RuleContext,
  id: string,
  rule: 'survey-assignment' | 'post-visit-survey',
  w: SurveyWindow,
): Task {
  const t = task(ctx, id, rule, surveyTaskFields(w, ctx.settings.codeSystem));
  return { ...t, code: { coding: [...(t.code?.coding ?? []), SDC_COMPLETE_QUESTIONNAIRE] } };
}

/** Reminders before booked visits on the patient's channel; with no channel, one Task for staff (reminder-no-channel). */
export const appointmentReminder: Rule = ({ model, written, ctx }) => {
  // A patient who opted out of a channel is reminded by the next written channel the programme prefers
  // (their ranking was of the number they opted out of), else a call or a staff Task (docs/messaging.md).
  const optedOut: string[] = model.patient.optedOut ?? [];
  const channel = reminderChannel(
    optedOut.length ? model.patient.contacts?.map(({ rank: _rank, ...c }) => c) : model.patient.contacts,
    ctx.settings.reminders.channels.filter((c) => !optedOut.includes(c)),
    ctx.now,
  );
  if (!channel) return isOn(ctx, 'reminder-no-channel') ? reminderNoChannel({ model, ctx }) : [];
  const idOf = (r: { appointmentId: string; leadDays: number }): string =>
    `${ctx.patientId}/appointment-reminder/${r.appointmentId}/${r.leadDays}d`;
  const inputs = reminderInputs(ctx.settings.codeSystem, channel, model.patient.language);
  const reminders = plannedReminders(
    model,
    reminderIdentifiers(written),
    ctx.settings.reminders,
    ctx.now,
    idOf,
    ctx.timeZone,
  );
  return reminders.map((r) => {
    const id = idOf(r);
    return {
      ...taskWrite(ctx, 'appointment-reminder'),
      identifier: id,
      entities: [`Appointment/${r.appointmentId}`],
      resource: task(ctx, id, 'appointment-reminder', reminderTaskFields(r, inputs)),
    };
  });
};

/** No way to remind: one Task for staff while an upcoming visit needs a reminder. */
function reminderNoChannel({ model, ctx }: Pick<Parameters<Rule>[0], 'model' | 'ctx'>): ReturnType<Rule> {
  const next = remindable(model, ctx.now).sort((a, b) => Date.parse(a.start) - Date.parse(b.start))[0];
  if (!next) return [];
  const id = `${ctx.patientId}/reminder-no-channel`;
  const resource = task(ctx, id, 'reminder-no-channel', {
    description:
      'No phone, SMS or email on file to remind the patient of an upcoming appointment: update the contact details or remind by other means.',
    focus: ref(`Appointment/${next.id}`),
  });
  return [
    { ...taskWrite(ctx, 'reminder-no-channel'), identifier: id, entities: [`Patient/${ctx.patientId}`], resource },
  ];
}

/** Each periodic instrument (PHQ-9, GAD-7, …) whose window is open and unanswered. */
export const surveyAssignment: Rule = ({ model, written, ctx }) => {
  const assigned = written.filter((x) => x.rule === 'survey-assignment');
  return ctx.settings.surveys.periodic.flatMap((def) => {
    const prefix = `${ctx.patientId}/survey/${def.instrument}/`;
    const clock = { zone: ctx.timeZone ?? UTC, ...(ctx.phase ? { phase: ctx.phase } : {}) };
    const w = periodicWindow(model, def, assigned, ctx.settings.surveys.windowDays, ctx.now, prefix, clock);
    if (!w) return [];
    const id = `${prefix}${w.key}`;
    return [
      {
        ...taskWrite(ctx, 'survey-assignment'),
        identifier: id,
        entities: w.answeredBy ? [`QuestionnaireResponse/${w.answeredBy}`] : [`Patient/${ctx.patientId}`],
        resource: surveyTask(ctx, id, 'survey-assignment', w),
      },
    ];
  });
};

/** A satisfaction survey after each kept visit, while its window is open. */
export const postVisitSurvey: Rule = ({ model, ctx }) => {
  const postVisit = ctx.settings.surveys.postVisit;
  if (!postVisit) return [];
  return postVisitWindows(model, postVisit, ctx.settings.surveys.windowDays, ctx.now, ctx.timeZone).map((w) => {
    const id = `${ctx.patientId}/post-visit-survey/${w.key}`;
    return {
      ...taskWrite(ctx, 'post-visit-survey'),
      identifier: id,
      entities: [`Appointment/${w.appointmentId}`, ...(w.answeredBy ? [`QuestionnaireResponse/${w.answeredBy}`] : [])],
      resource: surveyTask(ctx, id, 'post-visit-survey', w),
    };
  });
};
