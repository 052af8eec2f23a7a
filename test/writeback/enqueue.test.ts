/**
 * From planned writes to outbox rows, on its own: unchanged content sends nothing, changed content and a
 * new write one row each (keyed by target and identifier), an invalid resource becomes a dead letter,
 * and only an open Task is closed.
 */
import type { Task } from '@medplum/fhirtypes';
import type { DesiredWrite } from '../../src/actions/plan';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import type { WrittenResource } from '../../src/store/types';
import { sharedValidator } from '../../src/validation/validator';
import { comparableHash } from '../../src/writeback/content';
import { prepareWrites, type PrepareContext } from '../../src/writeback/enqueue';

const TARGET = 'https://emr.test/fhir/r4';
const ctx: PrepareContext = {
  sourceId: 'clinic',
  runId: 'run-1',
  target: TARGET,
  settings: DEFAULT_ACTION_SETTINGS,
  validator: sharedValidator(),
};

function task(description: string): Task {
  return {
    resourceType: 'Task',
    identifier: [{ system: DEFAULT_ACTION_SETTINGS.identifierSystem, value: 'p1/outreach-no-shows/2026-06-01' }],
    status: 'requested',
    intent: 'order',
    for: { reference: 'Patient/p1' },
    description,
  };
}

function upsert(resource: Task, identifier = 'p1/outreach-no-shows/2026-06-01'): DesiredWrite {
  return {
    op: 'upsert',
    identifier,
    rule: 'outreach-no-shows',
    patientId: 'p1',
    resourceType: 'Task',
    priority: 1,
    resource,
    entities: ['Patient/p1'],
  };
}

function written(over: Partial<WrittenResource>): WrittenResource {
  return {
    sourceId: 'clinic',
    identifierValue: 'p1/outreach-no-shows/2026-06-01',
    resourceType: 'Task',
    patientId: 'p1',
    rule: 'outreach-no-shows',
    target: TARGET,
    serverId: 'T1',
    versionId: '1',
    contentHash: comparableHash(task('reach out') as unknown as Record<string, unknown>),
    status: 'requested',
    state: 'open',
    runId: 'run-0',
    updatedAt: new Date('2026-06-01T00:00:00Z'),
    ...over,
  };
}

const byId = (w: WrittenResource): Map<string, WrittenResource> => new Map([[w.identifierValue, w]]);

test('a new write is one outbox row keyed by target and identifier, with its payload', () => {
  const out = prepareWrites([upsert(task('reach out'))], new Map(), ctx);
  expect(out.outbox).toEqual([
    expect.objectContaining({
      target: TARGET,
      dedupeKey: `${TARGET}|p1/outreach-no-shows/2026-06-01`,
      resourceType: 'Task',
      priority: 1,
    }),
  ]);
  expect(out.payloads[0]).toMatchObject({
    op: 'upsert',
    identifier: 'p1/outreach-no-shows/2026-06-01',
    rule: 'outreach-no-shows',
  });
  expect(out.deadLetters).toEqual([]);
});

test('the same content already written and open sends nothing; changed content, or another target, sends it', () => {
  const same = prepareWrites([upsert(task('reach out'))], byId(written({})), ctx);
  expect(same).toMatchObject({ outbox: [], unchanged: 1 });
  expect(prepareWrites([upsert(task('reach out today'))], byId(written({})), ctx).outbox).toHaveLength(1);
  const elsewhere = written({ target: 'https://old.emr.test/fhir' });
  expect(prepareWrites([upsert(task('reach out'))], byId(elsewhere), ctx).outbox).toHaveLength(1);
  // Closed since (a person completed it): the rule wants it again, so it is written again.
  expect(prepareWrites([upsert(task('reach out'))], byId(written({ state: 'closed' })), ctx).outbox).toHaveLength(1);
});

test('an invalid outgoing resource is a dead letter of stage actions (strict: thrown), never an outbox row', () => {
  const invalid = { ...task('x'), status: 'not-a-status' } as unknown as Task;
  const out = prepareWrites([upsert(invalid)], new Map(), ctx);
  expect(out.outbox).toEqual([]);
  expect(out.deadLetters).toEqual([
    expect.objectContaining({ sourceId: 'clinic', runId: 'run-1', stage: 'actions', resourceType: 'Task' }),
  ]);
  expect(() => prepareWrites([upsert(invalid)], new Map(), { ...ctx, strict: true })).toThrow(
    'rule outreach-no-shows produced an invalid Task',
  );
});

test('a close is sent only for a Task that is open here', () => {
  const close: DesiredWrite = {
    op: 'close',
    identifier: 'p1/outreach-no-shows/2026-06-01',
    rule: 'outreach-no-shows',
    patientId: 'p1',
    resourceType: 'Task',
    priority: 1,
    status: 'cancelled',
    reason: 'no longer 2 or more no-shows',
    serverId: 'T1',
    entities: ['Patient/p1'],
    at: '2026-06-02T00:00:00.000Z',
  };
  const open = prepareWrites([close], byId(written({})), ctx);
  expect(open.payloads).toEqual([expect.objectContaining({ op: 'close', status: 'cancelled', serverId: 'T1' })]);
  expect(prepareWrites([close], byId(written({ state: 'handled-by-person' })), ctx).outbox).toEqual([]);
  expect(prepareWrites([close], new Map(), ctx).outbox).toEqual([]);
});
