/**
 * The care team's part of a patient's page (docs/care-team.md): fhir-engage's Tasks for the patient
 * as the EMR last showed them (what, due, owner, one state in words) each worked from its row, a call
 * or note logged as a Communication, and what the care team did here, newest first.
 */
import { get, postWrite, requestId } from '../api';
import type { CareTeamActivity, CareTeamWrite, PatientMessages } from '../../../src/api/schemas/care-team';
import type { PatientOverview } from '../../../src/api/schemas/patients';
import { announce, flash, h, table, when } from '../dom';
import { workButton } from './task-actions';

type Written = PatientOverview['written'][number];

function tasksTable(o: PatientOverview, refresh: () => Promise<void>): HTMLElement {
  const tasks = o.written.filter((w): w is Written & { task: NonNullable<Written['task']> } => w.task !== null);
  return table(
    'Tasks fhir-engage opened for this patient',
    ['what', 'authored', 'due', 'owner', 'state', 'act'],
    tasks.map((w) => [
      w.task.description ?? w.rule,
      when(w.task.authoredOn),
      when(w.task.due),
      w.task.owner ?? 'unassigned',
      [
        w.inWords,
        w.task.businessStatus ? ` — outcome: ${w.task.businessStatus}` : '',
        w.task.notes.length ? ` — last note: ${w.task.notes[w.task.notes.length - 1]?.text}` : '',
      ].join(''),
      w.task.actions.length
        ? workButton(
            {
              sourceId: o.sourceId,
              patientId: o.patientId,
              taskId: w.task.taskId,
              status: w.task.status,
              owner: w.task.owner,
              actions: w.task.actions,
              label: w.task.description ?? w.rule,
            },
            refresh,
          )
        : 'ended',
    ]),
    { 'data-testid': 'patient-tasks' },
  );
}

function observationsTable(o: PatientOverview): HTMLElement {
  return table(
    'Observations written for this patient',
    ['rule', 'last written'],
    o.written.filter((w) => w.resourceType !== 'Task').map((w) => [w.rule, when(w.updatedAt)]),
  );
}

function contactForm(o: PatientOverview, refresh: () => Promise<void>): HTMLElement {
  const kind = h(
    'select',
    { id: 'ct-kind' },
    h('option', { value: 'call' }, 'a call'),
    h('option', { value: 'note' }, 'a note'),
  );
  const text = h('textarea', { id: 'ct-text', required: true, maxlength: 2000, rows: 2 });
  const submit = h('button', { type: 'submit' }, 'Save to the EMR');
  return h(
    'form',
    {
      class: 'contact',
      'data-testid': 'contact-form',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        if (!text.value.trim()) return void text.reportValidity();
        submit.disabled = true;
        try {
          const r = await postWrite<CareTeamWrite>(
            `/sources/${encodeURIComponent(o.sourceId)}/patients/${encodeURIComponent(o.patientId)}/contacts`,
            { kind: kind.value, text: text.value.trim(), requestId: requestId() },
          );
          await refresh();
          flash(r.body.message, r.body.state === 'refused');
        } catch (err) {
          announce(`Not saved: ${(err as Error).message}`);
          flash(`Not saved: ${(err as Error).message}`, true);
          submit.disabled = false;
        }
      },
    },
    h('h3', {}, 'Log a call or a note'),
    h('label', { for: 'ct-kind' }, 'Log '),
    kind,
    h('label', { for: 'ct-text' }, ' What was said or done '),
    text,
    submit,
  );
}

async function activityTable(o: PatientOverview): Promise<HTMLElement> {
  const { activity } = await get<CareTeamActivity>(
    `/sources/${encodeURIComponent(o.sourceId)}/patients/${encodeURIComponent(o.patientId)}/care-team`,
  );
  return table(
    'What the care team did here',
    ['when', 'who', 'what', 'detail', 'in the EMR'],
    activity.map((a) => [when(a.at), a.by, a.kind, a.text ?? '', a.message]),
    { 'data-testid': 'care-team-activity' },
  );
}

/** Messages fhir-engage sent to the patient or received from them, and the channels they opted out of. */
async function messagesTable(o: PatientOverview): Promise<HTMLElement[]> {
  const { messages, optedOut, surveys } = await get<PatientMessages>(
    `/sources/${encodeURIComponent(o.sourceId)}/patients/${encodeURIComponent(o.patientId)}/messages`,
  );
  const channel = (c: string): string => (c === 'sms' ? 'SMS' : c);
  return [
    ...(optedOut.length
      ? [
          h(
            'p',
            { 'data-testid': 'opted-out' },
            `Opted out of ${optedOut.map((x) => `${channel(x.channel)} (since ${when(x.since)})`).join(' and ')}: fhir-engage does not use it until they opt in.`,
          ),
        ]
      : []),
    table(
      'Messages to and from the patient',
      ['when', 'channel', 'direction', 'state', 'text'],
      messages.map((m) => [
        when(m.sentAt ?? m.createdAt),
        channel(m.channel),
        m.direction === 'inbound' ? 'from the patient' : (KIND_WORDS[m.kind] ?? m.kind),
        m.reason ? `${m.state}: ${m.reason}` : m.state,
        m.text,
      ]),
      { 'data-testid': 'patient-messages' },
    ),
    table(
      'Surveys sent by link',
      ['survey', 'link sent', 'opened', 'answered through the page', 'open until'],
      surveys.map((v) => [
        v.survey,
        when(v.linkSentAt),
        v.openedAt ? when(v.openedAt) : '—',
        v.answeredAt
          ? `${when(v.answeredAt)}${v.crisis ? ' — item 9 above 0: crisis resources shown, safety Task raised' : ''}`
          : 'not yet',
        when(v.until),
      ]),
      { 'data-testid': 'patient-surveys' },
    ),
  ];
}

const KIND_WORDS: Record<string, string> = {
  'appointment-reminder': 'reminder',
  'survey-invitation': 'survey invitation',
  'help-reply': 'help reply',
};

export async function careTeamSection(o: PatientOverview, refresh: () => Promise<void>): Promise<HTMLElement[]> {
  return [
    tasksTable(o, refresh),
    contactForm(o, refresh),
    await activityTable(o),
    ...(await messagesTable(o)),
    observationsTable(o),
  ];
}
