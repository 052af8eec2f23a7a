/** The patient overview's statuses of what fhir-engage wrote: what the EMR holds now, as best known. */
import { patientHeader } from '../../src/api/patient-header';
import { patientOverview, stateInWords } from '../../src/api/views';
import { computeIndicators } from '../../src/indicators/compute';
import { DEFAULT_INDICATOR_SETTINGS as S } from '../../src/config/indicator-settings';
import type { EngagementModel } from '../../src/mapping/model';
import type { TaskEvent, WrittenResource } from '../../src/store/types';

const NOW = new Date('2026-06-01T00:00:00Z');
const day = (o: number): string => new Date(NOW.getTime() + o * 86_400_000).toISOString();
const REMINDER = 'p1/appointment-reminder/a1/2026-06-03';

const model: EngagementModel = {
  sourceId: 's',
  patientId: 'p1',
  patient: {},
  appointments: [{ id: 'a1', start: day(2), status: 'upcoming' }],
  carePlans: [],
  activities: [],
  responses: [],
  requests: [],
} as EngagementModel;

function written(state: WrittenResource['state'], status: string | null): WrittenResource {
  // Our clock (the store's now()) is later than the EMR's times in a back-computed run: never compared.
  return {
    sourceId: 's',
    identifierValue: REMINDER,
    resourceType: 'Task',
    patientId: 'p1',
    rule: 'appointment-reminder',
    target: 't',
    serverId: 't1',
    versionId: '2',
    contentHash: 'h',
    status,
    state,
    runId: 'r',
    updatedAt: new Date('2026-12-01T00:00:00Z'),
  };
}
const seen = (status: string, at: string): TaskEvent => ({
  sourceId: 's',
  identifierValue: REMINDER,
  taskId: 't1',
  patientId: 'p1',
  rule: 'appointment-reminder',
  status,
  owner: null,
  focus: null,
  authoredOn: null,
  changedAt: new Date(at),
});

function statuses(w: WrittenResource, events: TaskEvent[]): { reminder: unknown; written: unknown } {
  const o = patientOverview({
    sourceId: 's',
    patientId: 'p1',
    asOf: NOW,
    model,
    header: patientHeader(undefined, [], NOW),
    indicators: computeIndicators(model, NOW, S),
    history: [],
    written: [w],
    taskEvents: events,
  }) as {
    upcoming: { reminders: { state: string; status: string | null }[] }[];
    written: { state: string; statusInEmr: string | null }[];
  };
  return { reminder: o.upcoming[0]?.reminders[0], written: o.written[0] };
}

test('a reminder fhir-engage cancelled after the read-back saw it requested shows cancelled', () => {
  expect(statuses(written('closed', 'cancelled'), [seen('requested', day(-3))])).toEqual({
    reminder: { state: 'closed', status: 'cancelled' },
    written: expect.objectContaining({ state: 'closed', statusInEmr: 'cancelled' }),
  });
});

test('what the read-back saw a person do stands: an open reminder completed in the EMR, a closed one a person completed', () => {
  expect(
    statuses(written('open', 'requested'), [seen('requested', day(-3)), seen('completed', day(-1))]).written,
  ).toMatchObject({ statusInEmr: 'completed' });
  expect(statuses(written('closed', 'cancelled'), [seen('completed', day(-1))]).written).toMatchObject({
    statusInEmr: 'completed',
  });
  // Forgotten after a person took it on: their status, as read back.
  expect(statuses(written('closed', 'in-progress'), [seen('in-progress', day(-2))]).written).toMatchObject({
    statusInEmr: 'in-progress',
  });
  // Nothing read back yet: what fhir-engage wrote.
  expect(statuses(written('open', 'requested'), []).written).toMatchObject({ statusInEmr: 'requested' });
});

test('one state per written resource, in words: who ended a Task is spelled out', () => {
  expect(stateInWords('Observation', 'open', 'final')).toBe('written');
  expect(stateInWords('Task', 'open', 'requested')).toBe('open, waiting for a person');
  expect(stateInWords('Task', 'open', null)).toBe('open, waiting for a person');
  expect(stateInWords('Task', 'closed', 'cancelled')).toBe('closed by fhir-engage (cancelled)');
  expect(stateInWords('Task', 'closed', 'completed')).toBe('closed by fhir-engage (completed)');
  expect(stateInWords('Task', 'handled-by-person', 'in-progress')).toBe('taken on by a person (in-progress)');
  expect(stateInWords('Task', 'handled-by-person', 'completed')).toBe('completed by a person in the EMR');
  expect(stateInWords('Task', 'open', 'completed')).toBe('completed by a person in the EMR');
});
