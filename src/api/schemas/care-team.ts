/** The care team's writes from the dashboard (docs/care-team.md): a Task as people see it, and what became of an action. */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, Instant, Nullable } from './common';

/** One of fhir-engage's Tasks as the EMR last showed it, with what a person may do with it now. */
export const TaskView = Closed({
  taskId: Type.String({ description: 'the Task’s id in the EMR' }),
  status: Nullable(Type.String()),
  owner: Nullable(Type.String({ description: 'who owns it, by name (or the reference when the EMR gives no name)' })),
  description: Nullable(Type.String()),
  authoredOn: Nullable(Instant),
  due: Nullable(Instant),
  businessStatus: Nullable(Type.String()),
  notes: Type.Array(Closed({ text: Type.String(), time: Nullable(Instant), author: Nullable(Type.String()) })),
  actions: Type.Array(Type.String(), {
    description: 'what a person may do now: claim, assign, start, complete, cancel, note',
  }),
});

export const CareTeamWrite = Closed({
  writeId: Type.Integer({ minimum: 1, description: 'GET /api/sources/{id}/care-team/writes/{writeId} answers again' }),
  state: Type.Union(
    ['written', 'unchanged', 'conflict', 'refused', 'queued'].map((s) => Type.Literal(s)),
    {
      description:
        'written; unchanged (the EMR already had it); conflict (the Task moved since it was seen: nothing written, `task` is the current one); refused by the EMR; queued (the EMR did not answer: the next run sends it)',
    },
  ),
  message: Type.String(),
  task: Type.Optional(Nullable(TaskView)),
});

export const CareTeamActivity = Closed({
  activity: Type.Array(
    Closed({
      writeId: Type.Integer({ minimum: 1 }),
      kind: Type.String({ description: 'claim, assign, start, complete, cancel, note, call or note-only contact' }),
      by: Type.String(),
      at: Instant,
      text: Nullable(Type.String()),
      taskId: Nullable(Type.String()),
      state: Type.String(),
      message: Type.String(),
    }),
  ),
});

export const PatientMessages = Closed({
  optedOut: Type.Array(Closed({ channel: Type.String(), since: Instant }), {
    description: 'channels the patient opted out of (STOP, an unsubscribe link): never used until they opt in',
  }),
  messages: Type.Array(
    Closed({
      id: Type.Integer({ minimum: 1 }),
      direction: Type.String({ description: 'outbound (fhir-engage to the patient) or inbound (a reply)' }),
      kind: Type.String(),
      channel: Type.String(),
      state: Type.String({ description: 'intent, sending, sent, delivered, undelivered, failed, cancelled, received' }),
      reason: Nullable(Type.String({ description: 'why it failed, was undelivered or cancelled, in words' })),
      text: Type.String(),
      createdAt: Instant,
      sentAt: Nullable(Instant),
      endedAt: Nullable(Instant),
    }),
  ),
  surveys: Type.Array(
    Closed({
      survey: Type.String({ description: 'the Questionnaire’s title' }),
      taskId: Type.String({ description: 'the survey Task in the EMR' }),
      linkSentAt: Instant,
      openedAt: Nullable(Instant),
      answeredAt: Nullable(Instant),
      until: Instant,
      crisis: Type.Boolean({
        description: 'PHQ-9 item 9 answered above 0: crisis resources shown, safety Task raised',
      }),
    }),
    { description: 'surveys the patient was sent a link to (docs/surveys.md): opened, answered through the page' },
  ),
});

export const Practitioners = Closed({
  practitioners: Type.Array(Closed({ reference: Type.String(), display: Type.String() })),
});

export type TaskView = Static<typeof TaskView>;
export type PatientMessages = Static<typeof PatientMessages>;
export type CareTeamWrite = Static<typeof CareTeamWrite>;
export type CareTeamActivity = Static<typeof CareTeamActivity>;
