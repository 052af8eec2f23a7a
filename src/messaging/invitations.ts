/**
 * Survey invitations of a run (docs/surveys.md): for each open survey Task of a programme with
 * `delivery: direct`, its link (stored once per Task, expiring when the Task's window closes) and the
 * message that carries it, stored once per Task (`survey|<identifier>`), to be sent like a reminder.
 */
import type { Patient, Task } from '@medplum/fhirtypes';
import { programmesOf } from '../config/programme-settings';
import { programmeSettings } from '../actions/plan';
import type { AppConfig } from '../config/types';
import type { MessageIntent } from '../store/messages';
import { bindingOf, newLinkId, signLink } from '../surveys/links';
import { addressHashesOf } from './address';
import { invitationAddress, invitationMessage, patientLanguage } from './invite';
import type { MessagingStageContext } from './stage';

export async function planInvitations(
  ctx: MessagingStageContext,
  actions: AppConfig['actions'],
  skipped: Record<string, number>,
): Promise<number> {
  const surveys = ctx.settings.surveys;
  if (!surveys) return 0;
  const direct = new Map(
    programmesOf(ctx.source)
      .filter((p) => p.delivery === 'direct')
      .map((p) => [p.id, programmeSettings(actions, p)]),
  );
  if (direct.size === 0) return 0;
  const now = ctx.now();
  const intents: MessageIntent[] = [];
  const skip = (why: string): void => void (skipped[why] = (skipped[why] ?? 0) + 1);
  for (const t of await ctx.store.surveyTasksToInvite(ctx.source.id, now)) {
    const programmeId = t.programmes.find((p) => direct.has(p));
    const settings = programmeId ? direct.get(programmeId) : undefined;
    if (!programmeId || !settings) continue;
    const task = t.task as Task;
    const windowEnd = Date.parse(task.executionPeriod?.end ?? '');
    const patient = (await ctx.store.getResource(ctx.source.id, 'Patient', t.patientId))?.resource as
      Patient | undefined;
    const canonical = task.input?.find((i) => i.valueCanonical)?.valueCanonical;
    if (!canonical || Number.isNaN(windowEnd)) {
      skip('the survey Task names no questionnaire or window');
      continue;
    }
    const optedOut = new Set(
      [...(await ctx.store.optedOut(addressHashesOf(patient, ctx.settings.sms?.defaultCountryCode)))].map(
        ([key]) => key,
      ),
    );
    const to = invitationAddress(patient, settings.reminders.channels, ctx.settings, optedOut, now);
    if ('skip' in to) {
      skip(to.skip);
      continue;
    }
    const link = await ctx.store.addSurveyLink({
      id: newLinkId(),
      sourceId: ctx.source.id,
      patientId: t.patientId,
      taskIdentifier: t.identifierValue,
      taskServerId: t.serverId,
      questionnaire: canonical,
      language: patientLanguage(patient) ?? 'en',
      expiresAt: new Date(windowEnd),
    });
    const token = signLink(bindingOf(link), surveys.linkKeys);
    const m = invitationMessage(
      {
        sourceId: ctx.source.id,
        programmeId,
        patientId: t.patientId,
        taskIdentifier: t.identifierValue,
        taskServerId: t.serverId,
        patient,
        windowEnd,
      },
      to,
      token,
      {
        settings: ctx.settings,
        templates: ctx.templates,
        zone: ctx.zone,
        sendWindow: settings.reminders.sendWindow,
        now,
      },
    );
    if ('skip' in m) skip(m.skip);
    else intents.push(m);
  }
  return ctx.store.addMessages(intents);
}
