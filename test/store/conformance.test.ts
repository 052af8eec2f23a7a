/**
 * Store conformance: the same behaviour on every driver.
 * Runs on PGlite always and on PostgreSQL when TEST_DATABASE_URL is set.
 */
import { badRequest } from '../../src/errors';
import type { Patient } from '@medplum/fhirtypes';
import { driverFactories, useMigratedStore } from '../helpers/drivers';
import { writtenTask } from '../helpers/model';
import type { Driver } from '../../src/store/driver';
import { LOCK_BUSY } from '../../src/store/driver';
import { migrate, migrationStatus } from '../../src/store/migrate';
import { openPostgres } from '../../src/store/pg-driver';
import { Store } from '../../src/store/store';

const patient = (id: string, family: string, lastUpdated = '2026-01-01T00:00:00.000Z'): Patient => ({
  resourceType: 'Patient',
  id,
  meta: { versionId: '1', lastUpdated },
  name: [{ family, given: ['Test'] }],
});

describe.each(driverFactories())('store conformance on $name', (factory) => {
  let driver: Driver;
  let store: Store;
  useMigratedStore(factory, (d, s) => {
    driver = d;
    store = s;
  });

  test('stored resources and models are compressed with lz4 where the server has it (PostgreSQL), with the default on PGlite', async () => {
    const rows = await driver.query<{ attname: string; attcompression: string }>({
      text: "SELECT attname, attcompression FROM pg_attribute WHERE (attrelid = 'resources'::regclass AND attname = 'resource') OR (attrelid = 'patient_models'::regclass AND attname = 'model') ORDER BY attname",
      values: [],
    });
    const expected = factory.name === 'postgres' ? 'l' : '';
    expect(rows.map((r) => [r.attname, r.attcompression])).toEqual([
      ['model', expected],
      ['resource', expected],
    ]);
  });

  test('migrating a second time has nothing to do', async () => {
    expect(await migrate(driver)).toEqual([]);
    const status = await migrationStatus(driver);
    expect(status.pending).toEqual([]);
    expect(status.applied).toEqual([
      '001_initial',
      '002_pull_checkpoints',
      '003_writeback',
      '004_scheduled_slots',
      '005_programme',
      '006_patients_to_compute',
      '007_bulk_exports',
      '008_dead_letter_dismissal',
      '009_keys_and_access_log',
      '010_model_hash_optional',
      '011_lz4_compression',
      '012_bulk_deleted_and_counts',
      '013_write_approvals',
      '014_programme_enrolments',
      '015_safety_alerts',
      '016_care_team_writes',
      '017_messaging',
      '018_survey_links',
      '019_key_roles_and_people',
      '020_sessions',
    ]);
  });

  test('resources the source deleted are removed, their patients marked to be recomputed; unknown ones are no-ops', async () => {
    await store.upsertResources('del', null, [
      { resource: patient('dp1', 'Alpha'), patientId: 'dp1' },
      { resource: { resourceType: 'Appointment', id: 'da1' }, patientId: 'dp1' },
      { resource: { resourceType: 'Appointment', id: 'da2' }, patientId: 'dp2' },
    ]);
    await store.markPatientsComputed('del', ['dp1', 'dp2']);
    const removed = await store.deleteResources('del', [
      { resourceType: 'Appointment', resourceId: 'da1' },
      { resourceType: 'Appointment', resourceId: 'da2' },
      { resourceType: 'Appointment', resourceId: 'never-stored' },
    ]);
    expect(removed).toEqual({ deleted: 2, patients: ['dp1', 'dp2'] });
    expect(await store.listResourceIds('del', 'Appointment')).toEqual([]);
    expect(await store.listResourceIds('del', 'Patient')).toEqual(['dp1']);
    expect(await store.patientsToRecompute('del', new Date())).toEqual(['dp1', 'dp2']);
    expect(await store.deleteResources('del', [{ resourceType: 'Appointment', resourceId: 'da1' }])).toEqual({
      deleted: 0,
      patients: [],
    });
  });

  test('a bulk file keeps what its lines counted with its progress (kind deleted accepted)', async () => {
    await store.saveBulkExport('bf', null, 'https://ehr.test/status/1', { types: ['Patient'] });
    await store.transaction((tx) =>
      tx.saveBulkManifest('bf', { transactionTime: '2026-06-01T00:00:00Z' }, [
        { url: 'https://ehr.test/f/del', kind: 'deleted', resourceType: 'Bundle', position: 0 },
      ]),
    );
    await store.saveBulkFileProgress('bf', 'https://ehr.test/f/del', {
      lines: 3,
      bytes: 120,
      done: true,
      counts: { Appointment: 3 },
    });
    expect((await store.getBulkExport('bf'))?.files).toEqual([
      {
        url: 'https://ehr.test/f/del',
        kind: 'deleted',
        resourceType: 'Bundle',
        position: 0,
        lines: 3,
        bytes: 120,
        done: true,
        counts: { Appointment: 3 },
      },
    ]);
    await store.deleteBulkExport('bf');
  });

  test('task events: each status of a Task is recorded once, with its first time, and carries the rule that wrote it', async () => {
    await store.upsertWritten({
      sourceId: 'te',
      identifierValue: 'p1/outreach-no-shows/x',
      resourceType: 'Task',
      patientId: 'p1',
      rule: 'outreach-no-shows',
      target: 't',
      serverId: 't1',
      versionId: '1',
      contentHash: 'h',
      status: 'requested',
      state: 'open',
      runId: 'r',
    });
    const row = (status: string, at: string) => ({
      identifierValue: 'p1/outreach-no-shows/x',
      taskId: 't1',
      patientId: 'p1',
      status,
      owner: null,
      focus: null,
      authoredOn: new Date('2026-05-01T00:00:00Z'),
      changedAt: new Date(at),
    });
    expect(
      await store.recordTaskEvents('te', [
        row('requested', '2026-05-01T00:00:00Z'),
        row('in-progress', '2026-05-03T00:00:00Z'),
      ]),
    ).toBe(2);
    expect(
      await store.recordTaskEvents('te', [
        row('in-progress', '2026-05-04T00:00:00Z'),
        row('completed', '2026-05-06T00:00:00Z'),
      ]),
    ).toBe(1);
    const events = await store.listTaskEvents('te');
    expect(events.map((e) => [e.status, e.changedAt.toISOString().slice(0, 10), e.rule])).toEqual([
      ['requested', '2026-05-01', 'outreach-no-shows'],
      ['in-progress', '2026-05-03', 'outreach-no-shows'],
      ['completed', '2026-05-06', 'outreach-no-shows'],
    ]);
  });

  test('programme history: one entry per source and day, a later run that day replaces it', async () => {
    await store.saveProgrammeHistory('ph', new Date('2026-05-02T08:00:00Z'), { n: 1 }, 'r1');
    await store.saveProgrammeHistory('ph', new Date('2026-05-02T20:00:00Z'), { n: 2 }, 'r2');
    await store.saveProgrammeHistory('ph', new Date('2026-05-03T20:00:00Z'), { n: 3 }, 'r3');
    expect(
      await store.listProgrammeHistory(new Date('2026-05-01T00:00:00Z'), new Date('2026-05-31T00:00:00Z'), 'ph'),
    ).toEqual([
      { sourceId: 'ph', asOf: '2026-05-02', figures: { n: 2 } },
      { sourceId: 'ph', asOf: '2026-05-03', figures: { n: 3 } },
    ]);
  });

  test('storing the same resource twice keeps one row and the second store writes nothing', async () => {
    const first = await store.upsertResources('s1', 'run-1', [{ resource: patient('p1', 'Alpha'), patientId: 'p1' }]);
    expect(first).toMatchObject({ inserted: 1, updated: 0, unchanged: 0, changedPatients: ['p1'] });

    const second = await store.upsertResources('s1', 'run-2', [{ resource: patient('p1', 'Alpha'), patientId: 'p1' }]);
    expect(second).toMatchObject({ inserted: 0, updated: 0, unchanged: 1, changedPatients: [] });

    const row = await store.getResource('s1', 'Patient', 'p1');
    // run_id still names the run that wrote it: the second store did not touch the row.
    expect(row?.runId).toBe('run-1');
    expect(await store.countResources('s1')).toEqual({ Patient: 1 });
  });

  test('a new version with the same content is unchanged; changed content is an update', async () => {
    const bumped = {
      ...patient('p1', 'Alpha', '2026-02-01T00:00:00.000Z'),
      meta: { versionId: '2', lastUpdated: '2026-02-01T00:00:00.000Z' },
    };
    expect(await store.upsertResources('s1', 'run-3', [{ resource: bumped, patientId: 'p1' }])).toMatchObject({
      unchanged: 1,
    });

    const renamed = patient('p1', 'Beta', '2026-03-01T00:00:00.000Z');
    const res = await store.upsertResources('s1', 'run-4', [{ resource: renamed, patientId: 'p1' }]);
    expect(res).toMatchObject({
      inserted: 0,
      updated: 1,
      changed: [{ resourceType: 'Patient', resourceId: 'p1', inserted: false }],
    });
    const row = await store.getResource('s1', 'Patient', 'p1');
    expect(row?.resource).toMatchObject({ name: [{ family: 'Beta' }] });
    expect(row?.lastUpdated?.toISOString()).toBe('2026-03-01T00:00:00.000Z');
  });

  test('a page with the same resource twice stores the later copy once', async () => {
    const res = await store.upsertResources('s2', null, [
      { resource: patient('dup', 'One') },
      { resource: patient('dup', 'Two') },
    ]);
    expect(res.inserted).toBe(1);
    expect((await store.getResource('s2', 'Patient', 'dup'))?.resource).toMatchObject({ name: [{ family: 'Two' }] });
  });

  test('a search page and its checkpoint commit together, in one statement or (past one batch) one transaction', async () => {
    const small = Array.from({ length: 3 }, (_, i) => ({ resource: patient(`sp-${i}`, 'Page'), patientId: `sp-${i}` }));
    const r = await store.storePage('page-src', 'run-1', small, {
      resourceType: 'Patient',
      state: { kind: 'pages', nextUrl: 'https://emr.example/next?1', pages: 1 },
    });
    expect(r).toMatchObject({ inserted: 3, updated: 0, unchanged: 0 });
    expect(r.changedPatients).toEqual(['sp-0', 'sp-1', 'sp-2']);
    expect((await store.getCheckpoint('page-src', 'Patient'))?.state).toEqual({
      kind: 'pages',
      nextUrl: 'https://emr.example/next?1',
      pages: 1,
    });
    expect(await store.patientsToRecompute('page-src', new Date())).toEqual(
      expect.arrayContaining(['sp-0', 'sp-1', 'sp-2']),
    );
    const large = Array.from({ length: 620 }, (_, i) => ({ resource: patient(`lp-${i}`, 'Large'), patientId: null }));
    const r2 = await store.storePage('page-src', 'run-1', large, {
      resourceType: 'Patient',
      state: { kind: 'pages', nextUrl: 'https://emr.example/next?2', pages: 2 },
    });
    expect(r2.inserted).toBe(620);
    expect((await store.getCheckpoint('page-src', 'Patient'))?.state).toMatchObject({ pages: 2 });
    expect((await store.countResources('page-src')).Patient).toBe(623);
    // The same page again: nothing written, the checkpoint still moves.
    const again = await store.storePage('page-src', 'run-2', small, {
      resourceType: 'Patient',
      state: { kind: 'pages', nextUrl: 'https://emr.example/next?3', pages: 3 },
    });
    expect(again).toMatchObject({ inserted: 0, updated: 0, unchanged: 3 });
    expect((await store.getCheckpoint<{ pages: number }>('page-src', 'Patient'))?.state.pages).toBe(3);
  });

  test('a large batch is stored completely', async () => {
    const many = Array.from({ length: 1234 }, (_, i) => ({ resource: patient(`m${i}`, `F${i}`), patientId: `m${i}` }));
    const res = await store.upsertResources('bulk', null, many);
    expect(res.inserted).toBe(1234);
    expect(await store.countResources('bulk')).toEqual({ Patient: 1234 });
  });

  test('watermarks are per source and type and only move forward', async () => {
    expect(await store.getWatermark('s1', 'Patient')).toBeUndefined();
    await store.advanceWatermark('s1', 'Patient', new Date('2026-05-01T00:00:00Z'));
    await store.advanceWatermark('s1', 'Patient', new Date('2026-04-01T00:00:00Z'));
    await store.advanceWatermark('s1', 'Appointment', new Date('2026-01-01T00:00:00Z'));
    expect((await store.getWatermark('s1', 'Patient'))?.toISOString()).toBe('2026-05-01T00:00:00.000Z');
    expect((await store.getWatermark('s1', 'Appointment'))?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(await store.getWatermark('other', 'Patient')).toBeUndefined();
  });

  test('a rolled-back transaction loses nothing already committed', async () => {
    await store.upsertResources('tx', null, [{ resource: patient('kept', 'Kept') }]);
    await expect(
      store.transaction(async (tx) => {
        await tx.upsertResources('tx', null, [
          { resource: patient('kept', 'Overwritten') },
          { resource: patient('new', 'New') },
        ]);
        await tx.advanceWatermark('tx', 'Patient', new Date('2030-01-01T00:00:00Z'));
        throw new Error('crash in the middle');
      }),
    ).rejects.toThrow('crash in the middle');
    expect((await store.getResource('tx', 'Patient', 'kept'))?.resource).toMatchObject({ name: [{ family: 'Kept' }] });
    expect(await store.getResource('tx', 'Patient', 'new')).toBeUndefined();
    expect(await store.getWatermark('tx', 'Patient')).toBeUndefined();
  });

  test('outbox: enqueue is idempotent, claim leases, ack and fail move rows on', async () => {
    const item = {
      target: 'http://emr/fhir',
      dedupeKey: 'Task|p1|outreach|2026-05',
      resourceType: 'Task',
      payload: { a: 1 },
    };
    expect(await store.enqueueOutbox('ob', 'run-1', [item])).toBe(1);
    expect(await store.enqueueOutbox('ob', 'run-2', [item])).toBe(0);
    expect(await store.enqueueOutbox('ob', 'run-2', [{ ...item, dedupeKey: 'other' }])).toBe(1);

    const claimed = await store.claimOutbox({ workerId: 'w1', limit: 10, leaseSeconds: 60, sourceId: 'ob' });
    expect(claimed.map((c) => [c.dedupeKey, c.state, c.attempts])).toEqual([
      ['Task|p1|outreach|2026-05', 'sending', 1],
      ['other', 'sending', 1],
    ]);
    // Leased rows are not handed out again.
    expect(await store.claimOutbox({ workerId: 'w2', limit: 10, leaseSeconds: 60, sourceId: 'ob' })).toEqual([]);

    const [a, b] = claimed as [(typeof claimed)[0], (typeof claimed)[0]];
    expect(await store.ackOutbox(a.id, 'w2', {})).toBe(false);
    expect(await store.ackOutbox(a.id, 'w1', { location: 'Task/1/_history/1' })).toBe(true);
    expect(await store.failOutbox(b.id, 'w1', { reason: 'boom' }, 0)).toBe(true);
    const retry = await store.claimOutbox({ workerId: 'w1', limit: 10, leaseSeconds: 60, sourceId: 'ob' });
    expect(retry.map((r) => [r.id, r.attempts])).toEqual([[b.id, 2]]);
    expect(await store.failOutbox(b.id, 'w1', { reason: 'gave up' }, null)).toBe(true);
    expect(await store.outboxCounts('ob')).toEqual({ sent: 1, failed: 1 });

    // Once sent, the same write can be planned again (e.g. a later change).
    expect(await store.enqueueOutbox('ob', 'run-3', [item])).toBe(1);
  });

  test('care-team writes: one row per request id, claimed alone or by op, listed per patient, never in a held plan', async () => {
    const planned = {
      target: 't',
      dedupeKey: 'plan-1',
      resourceType: 'Task',
      payload: { op: 'upsert', patientId: 'p1' },
    };
    await store.enqueueOutbox('ctw', 'run-1', [planned]);
    const action = {
      target: 't',
      dedupeKey: 't|person|req-1',
      resourceType: 'Task',
      payload: { op: 'task-action', patientId: 'p1', serverId: 'T1' },
    };
    const first = await store.enqueuePersonWrite('ctw', action);
    expect(first).toMatchObject({ state: 'pending', dedupeKey: 't|person|req-1' });
    // The same request again, even with other content, is the first row.
    expect((await store.enqueuePersonWrite('ctw', { ...action, payload: { ...action.payload, x: 1 } })).id).toBe(
      first.id,
    );
    const call = await store.enqueuePersonWrite('ctw', {
      ...action,
      dedupeKey: 't|person|req-2',
      resourceType: 'Communication',
      payload: { op: 'communication', patientId: 'p1' },
    });
    expect((await store.pendingPlan('ctw')).total).toBe(1);
    expect((await store.personWritesOf('ctw', 'p1')).map((r) => r.id)).toEqual([call.id, first.id]);
    expect(await store.personWritesOf('ctw', 'p2')).toEqual([]);
    const alone = await store.claimOutbox({
      workerId: 'w',
      limit: 10,
      leaseSeconds: 60,
      sourceId: 'ctw',
      ids: [call.id],
    });
    expect(alone.map((r) => r.id)).toEqual([call.id]);
    const byOp = await store.claimOutbox({
      workerId: 'w',
      limit: 10,
      leaseSeconds: 60,
      sourceId: 'ctw',
      ops: ['task-action', 'communication'],
    });
    expect(byOp.map((r) => r.id)).toEqual([first.id]);
    expect((await store.outboxRow('ctw', first.id))?.state).toBe('sending');
    expect(await store.outboxRow('other-source', first.id)).toBeUndefined();
  });

  test('survey links: one per Task (a second add finds the first), answered once, wrong birth dates counted, listed per patient', async () => {
    const link = {
      id: 'L'.repeat(22),
      sourceId: 'sv',
      patientId: 'p1',
      taskIdentifier: 'p1/survey/phq9/2026-06-01',
      taskServerId: 'T9',
      questionnaire: 'http://loinc.org/q/44249-1',
      language: 'es',
      expiresAt: new Date('2026-06-08T05:00:00Z'),
    };
    const first = await store.addSurveyLink(link);
    const again = await store.addSurveyLink({ ...link, id: 'M'.repeat(22) });
    expect(again.id).toBe(first.id);
    expect(first).toMatchObject({ language: 'es', submittedAt: null, crisis: false, birthDateFailures: 0 });
    expect(await store.addBirthDateFailure(first.id)).toBe(1);
    expect(await store.addBirthDateFailure(first.id)).toBe(2);
    const at = new Date('2026-06-02T10:00:00Z');
    expect((await store.submitSurveyLink(first.id, at, true))?.submittedAt).toEqual(at);
    expect(await store.submitSurveyLink(first.id, new Date(), false)).toBeUndefined();
    expect((await store.surveyLink(first.id))?.crisis).toBe(true);
    expect(await store.surveyLink('M'.repeat(22))).toBeUndefined();
    expect((await store.surveyLinksOfPatient('sv', 'p1')).map((l) => l.id)).toEqual([first.id]);
    expect([...(await store.linkedSurveyTaskIds('sv'))]).toEqual(['T9']);
  });

  test('what was written is found by its id in the EMR', async () => {
    await store.upsertWritten({ ...writtenTask('sid/x', 'phq9-follow-up'), sourceId: 'srv', serverId: 'emr-7' });
    expect((await store.getWrittenByServerId('srv', 'emr-7'))?.identifierValue).toBe('sid/x');
    expect(await store.getWrittenByServerId('srv', 'emr-8')).toBeUndefined();
  });

  test('outbox: a row whose lease expired (its worker died) is claimed again', async () => {
    await store.enqueueOutbox('lease', null, [{ target: 't', dedupeKey: 'k', resourceType: 'Task', payload: {} }]);
    const [first] = await store.claimOutbox({ workerId: 'dead', limit: 1, leaseSeconds: 0, sourceId: 'lease' });
    expect(first).toBeDefined();
    await new Promise((r) => setTimeout(r, 20));
    const again = await store.claimOutbox({ workerId: 'alive', limit: 1, leaseSeconds: 60, sourceId: 'lease' });
    expect(again.map((r) => [r.id, r.claimedBy, r.attempts])).toEqual([[first?.id, 'alive', 2]]);
    expect(await store.ackOutbox(again[0]!.id, 'dead', {})).toBe(false);
  });

  test('dead letters keep the resource and its OperationOutcome', async () => {
    const outcome = {
      resourceType: 'OperationOutcome' as const,
      issue: [{ severity: 'error' as const, code: 'required' as const, expression: ['Appointment.start'] }],
    };
    await store.addDeadLetters([
      {
        sourceId: 'dl',
        runId: 'r1',
        stage: 'validate',
        resourceType: 'Appointment',
        resourceId: 'a1',
        payload: { resourceType: 'Appointment', id: 'a1' },
        outcome,
      },
      { sourceId: 'dl', runId: 'r2', stage: 'write', resourceType: 'Task', outcome },
    ]);
    const all = await store.listDeadLetters({ sourceId: 'dl' });
    expect(all.map((d) => [d.stage, d.resourceType, d.resourceId])).toEqual([
      ['write', 'Task', null],
      ['validate', 'Appointment', 'a1'],
    ]);
    expect(all[1]?.outcome.issue[0]?.expression).toEqual(['Appointment.start']);
    expect(await store.countDeadLetters({ sourceId: 'dl', runId: 'r1' })).toBe(1);
  });

  test('the same invalid resource dead-lettered twice is one open dead letter', async () => {
    const outcome = {
      resourceType: 'OperationOutcome' as const,
      issue: [{ severity: 'error' as const, code: 'value' as const }],
    };
    const letter = {
      sourceId: 'dl2',
      stage: 'validate' as const,
      resourceType: 'Appointment',
      resourceId: 'a1',
      payload: { id: 'a1', v: 1 },
      outcome,
    };
    expect(await store.addDeadLetters([letter])).toBe(1);
    expect(await store.addDeadLetters([{ ...letter, runId: 'later' }])).toBe(0);
    expect(await store.addDeadLetters([{ ...letter, payload: { id: 'a1', v: 2 } }])).toBe(1);
    expect(await store.countDeadLetters({ sourceId: 'dl2' })).toBe(2);
  });

  test('pull checkpoints are saved, replaced and deleted per source and type', async () => {
    expect(await store.getCheckpoint('cp', 'Patient')).toBeUndefined();
    await store.saveCheckpoint('cp', 'Patient', 'r1', { nextUrl: 'http://x/1' });
    await store.saveCheckpoint('cp', 'Patient', 'r2', { nextUrl: 'http://x/2' });
    expect(await store.getCheckpoint('cp', 'Patient')).toEqual({ state: { nextUrl: 'http://x/2' }, runId: 'r2' });
    await store.deleteCheckpoint('cp', 'Patient');
    expect(await store.getCheckpoint('cp', 'Patient')).toBeUndefined();
  });

  test('runs: create, heartbeat, finish, list; stale runs are marked interrupted', async () => {
    const asOf = new Date('2026-06-01T12:00:00Z');
    await store.createRun({ id: 'run-a', sourceId: 'rs', asOf, options: { full: true } });
    await store.heartbeatRun('run-a', { pages: 3 });
    const finished = await store.finishRun('run-a', 'succeeded', { pages: 4 });
    expect(finished).toMatchObject({ status: 'succeeded', counts: { pages: 4 }, options: { full: true } });
    expect(finished.asOf.toISOString()).toBe(asOf.toISOString());

    await store.createRun({ id: 'run-b', sourceId: 'rs', asOf });
    expect(await store.markStaleRunsInterrupted('rs', 3600)).toEqual([]);
    await new Promise((r) => setTimeout(r, 20));
    const stale = await store.markStaleRunsInterrupted('rs', 0);
    expect(stale.map((r) => [r.id, r.status])).toEqual([['run-b', 'interrupted']]);
    expect((await store.listRuns({ sourceId: 'rs' })).map((r) => r.id)).toEqual(['run-b', 'run-a']);
  });

  test('checkpoints of a run never move back when two pages commit out of order', async () => {
    const at = (pages: number) => ({
      kind: 'pages',
      nextUrl: `https://emr.example.org/Appointment?page=${pages + 1}`,
      pages,
    });
    await store.saveCheckpoint('order', 'Appointment', 'run-1', at(5));
    await store.saveCheckpoint('order', 'Appointment', 'run-1', at(4));
    expect((await store.getCheckpoint('order', 'Appointment'))?.state).toMatchObject({ pages: 5 });
    await store.storePage('order', 'run-1', [], { resourceType: 'Appointment', state: at(3) });
    expect((await store.getCheckpoint('order', 'Appointment'))?.state).toMatchObject({ pages: 5 });
    await store.saveCheckpoint('order', 'Appointment', 'run-1', at(6));
    expect((await store.getCheckpoint('order', 'Appointment'))?.state).toMatchObject({ pages: 6 });
    // Another run (a resumed one starts its count again), or a per-patient checkpoint, replaces it.
    await store.saveCheckpoint('order', 'Appointment', 'run-2', at(1));
    expect((await store.getCheckpoint('order', 'Appointment'))?.state).toMatchObject({ pages: 1 });
    await store.saveCheckpoint('order', 'Appointment', 'run-2', { kind: 'patients', lowWater: 3 });
    expect((await store.getCheckpoint('order', 'Appointment'))?.state).toMatchObject({ kind: 'patients', lowWater: 3 });
  });

  test('indicator history stores a value only when it changed', async () => {
    const asOf1 = new Date('2026-06-01T00:00:00Z');
    const asOf2 = new Date('2026-06-02T00:00:00Z');
    expect(
      await store.recordIndicators('ih', 'p1', asOf1, 'r1', [
        { indicator: 'phq9.total', value: 12 },
        { indicator: 'tier', value: 'at-risk' },
      ]),
    ).toEqual(expect.arrayContaining(['phq9.total', 'tier']));
    expect(
      await store.recordIndicators('ih', 'p1', asOf2, 'r2', [
        { indicator: 'phq9.total', value: 12 },
        { indicator: 'tier', value: 'engaged' },
      ]),
    ).toEqual(['tier']);
    const history = await store.indicatorHistory({ sourceId: 'ih', patientId: 'p1', indicator: 'tier' });
    expect(history.map((h) => h.value)).toEqual(['at-risk', 'engaged']);
  });

  test('an indicator without a value (null) is recorded as null, once, next to values with odd text', async () => {
    const asOf = new Date('2026-06-01T00:00:00Z');
    const odd = 'quote " backslash \\ brace { newline \n é';
    expect(
      (
        await store.recordIndicators('ihn', 'p1', asOf, 'r1', [
          { indicator: 'phq9.change', value: null },
          { indicator: 'note', value: odd },
        ])
      ).sort(),
    ).toEqual(['note', 'phq9.change']);
    expect(
      await store.recordIndicators('ihn', 'p1', new Date('2026-06-02T00:00:00Z'), 'r2', [
        { indicator: 'phq9.change', value: null },
      ]),
    ).toEqual([]);
    expect(
      (await store.indicatorHistory({ sourceId: 'ihn', patientId: 'p1' })).map((h) => [h.indicator, h.value]),
    ).toEqual([
      ['phq9.change', null],
      ['note', odd],
    ]);
  });

  test('indicator history of many patients in one call: each patient compared with its own latest value', async () => {
    const asOf = new Date('2026-06-03T00:00:00Z');
    await store.recordIndicators('ihm', 'a', asOf, 'r0', [{ indicator: 'tier', value: 'engaged' }]);
    const recorded = await store.recordIndicatorsMany('ihm', new Date('2026-06-04T00:00:00Z'), 'r1', [
      { patientId: 'a', values: [{ indicator: 'tier', value: 'engaged' }] },
      {
        patientId: 'b',
        values: [
          { indicator: 'tier', value: 'engaged' },
          { indicator: 'score', value: 70 },
        ],
      },
    ]);
    expect(recorded.sort((x, y) => (x.patientId + x.indicator).localeCompare(y.patientId + y.indicator))).toEqual([
      { patientId: 'b', indicator: 'score' },
      { patientId: 'b', indicator: 'tier' },
    ]);
    await store.saveComputations(
      'ihm',
      [
        { patientId: 'a', model: { m: 'a' }, indicators: { i: 1 } },
        { patientId: 'b', model: { m: 'b' }, indicators: { i: 2 } },
      ],
      asOf,
      'r1',
    );
    expect((await store.listComputations('ihm')).map((c) => [c.patientId, c.indicators])).toEqual([
      ['a', { i: 1 }],
      ['b', { i: 2 }],
    ]);
  });

  test('patients are read a page at a time in (source, patient) order, with or without models; a patient without indicators is left out', async () => {
    const asOf = new Date('2026-06-05T00:00:00Z');
    await store.saveComputations(
      'pg-a',
      ['p3', 'p1', 'p5', 'p2', 'p4'].map((id) => ({ patientId: id, model: { m: id }, indicators: { i: id } })),
      asOf,
      'r1',
    );
    await store.saveComputations(
      'pg-b',
      [{ patientId: 'p1', model: { m: 'b1' }, indicators: { i: 'b1' } }],
      asOf,
      'r1',
    );
    await store.saveComputations('pg-b', [{ patientId: 'p0', model: { m: 'b0' }, indicators: null }], asOf, 'r1');
    const pages: string[][] = [];
    await store.forEachComputationPage({ sourceId: 'pg-a', models: true, pageSize: 2 }, (rows) => {
      pages.push(
        rows.map((r) => `${r.patientId}:${(r.model as { m: string }).m}:${(r.indicators as { i: string }).i}`),
      );
    });
    expect(pages).toEqual([['p1:p1:p1', 'p2:p2:p2'], ['p3:p3:p3', 'p4:p4:p4'], ['p5:p5:p5']]);
    const all: string[] = [];
    await store.forEachComputationPage({ models: false, pageSize: 3 }, (rows) => {
      for (const r of rows) {
        expect(r.model).toBeUndefined();
        if (r.sourceId.startsWith('pg-')) all.push(`${r.sourceId}/${r.patientId}`);
      }
    });
    expect(all).toEqual(['pg-a/p1', 'pg-a/p2', 'pg-a/p3', 'pg-a/p4', 'pg-a/p5', 'pg-b/p1']);
  });

  test('patients are recomputed when their resources changed, or once per as-of day', async () => {
    const day1 = new Date('2026-06-01T10:00:00Z');
    await store.upsertResources('rc', 'r1', [
      { resource: patient('p1', 'One'), patientId: 'p1' },
      { resource: patient('p2', 'Two'), patientId: 'p2' },
    ]);
    expect(await store.patientsToRecompute('rc', day1)).toEqual(['p1', 'p2']);
    await store.saveComputation('rc', 'p1', { m: 1 }, { i: 1 }, day1, 'r1');
    await store.saveComputation('rc', 'p2', { m: 2 }, { i: 2 }, day1, 'r1');
    expect(await store.patientsToRecompute('rc', new Date('2026-06-01T18:00:00Z'))).toEqual([]);
    await new Promise((r) => setTimeout(r, 20));
    await store.upsertResources('rc', 'r2', [{ resource: patient('p2', 'Renamed'), patientId: 'p2' }]);
    expect(await store.patientsToRecompute('rc', new Date('2026-06-01T18:00:00Z'))).toEqual(['p2']);
    expect(await store.patientsToRecompute('rc', new Date('2026-06-02T00:00:01Z'))).toEqual(['p1', 'p2']);
    expect((await store.listComputations('rc')).map((c) => [c.patientId, c.indicators])).toEqual([
      ['p1', { i: 1 }],
      ['p2', { i: 2 }],
    ]);
    // The same content again changes nothing; a touched resource (a retried dead letter) marks its patient.
    await store.saveComputation('rc', 'p2', { m: 2 }, { i: 2 }, day1, 'r2');
    await store.upsertResources('rc', 'r3', [{ resource: patient('p2', 'Renamed'), patientId: 'p2' }]);
    expect(await store.patientsToRecompute('rc', day1)).toEqual([]);
    expect(await store.touchResource('rc', 'Patient', 'p1')).toBe(true);
    expect(await store.patientsToRecompute('rc', day1)).toEqual(['p1']);
    await store.markPatientsComputed('rc', ['p1']);
    expect(await store.patientsToRecompute('rc', day1)).toEqual([]);
    // The clinic's day: computed at 10:00Z on 1 June (05:00 in Chicago), 04:00Z on 2 June is still
    // 1 June in Chicago (23:00 CDT) but the next day in UTC.
    const lateEvening = new Date('2026-06-02T04:00:00Z');
    expect(await store.patientsToRecompute('rc', lateEvening, 'America/Chicago')).toEqual([]);
    expect(await store.patientsToRecompute('rc', lateEvening)).toEqual(['p1', 'p2']);
    expect(await store.patientsToRecompute('rc', new Date('2026-06-02T05:00:00Z'), 'America/Chicago')).toEqual([
      'p1',
      'p2',
    ]);
    // Patients marked (their new Tasks waited for a per-run cap) are computed again by the next run.
    await store.markPatientsToCompute('rc', ['p2']);
    expect(await store.patientsToRecompute('rc', day1)).toEqual(['p2']);
  });

  test('programme enrolments: spells start once, end with why, start again; a period counts enrolled, new and ended', async () => {
    const d = (day: number): Date => new Date(Date.UTC(2026, 5, day, 12));
    await store.recordEnrolments('en', 'r1', d(1), {
      started: [
        { patientId: 'p1', programmeId: 'bh' },
        { patientId: 'p2', programmeId: 'bh' },
        { patientId: 'p1', programmeId: 'dm' },
      ],
      ended: [],
    });
    // Starting an open spell again changes nothing.
    await store.recordEnrolments('en', 'r2', d(2), { started: [{ patientId: 'p1', programmeId: 'bh' }], ended: [] });
    await store.recordEnrolments('en', 'r3', d(5), {
      started: [],
      ended: [{ patientId: 'p2', programmeId: 'bh', endReason: 'no longer meets the enrolment criteria' }],
    });
    await store.recordEnrolments('en', 'r4', d(9), { started: [{ patientId: 'p2', programmeId: 'bh' }], ended: [] });
    const open = await store.openEnrolments('en', ['p1', 'p2', 'p3']);
    expect(open.get('p1')?.map((s) => [s.programmeId, s.startedAt])).toEqual([
      ['bh', d(1)],
      ['dm', d(1)],
    ]);
    expect(open.get('p2')).toEqual([{ programmeId: 'bh', startedAt: d(9) }]);
    expect(open.has('p3')).toBe(false);
    expect(await store.patientEnrolments('en', 'p2')).toEqual([
      expect.objectContaining({
        programmeId: 'bh',
        startedAt: d(1),
        endedAt: d(5),
        endReason: 'no longer meets the enrolment criteria',
      }),
      expect.objectContaining({ programmeId: 'bh', startedAt: d(9), endedAt: null, endReason: null }),
    ]);
    expect(await store.programmeStarts('en')).toEqual(
      new Map([
        ['bh', d(1)],
        ['dm', d(1)],
      ]),
    );
    // 3 to 8 June: p2's first spell ended in it; at its end only p1 is in bh.
    const spells = await store.enrolmentSpells('en', d(3), d(8));
    expect(spells.map((x) => `${x.programmeId}:${x.patientId}`)).toEqual(['bh:p1', 'bh:p2', 'dm:p1']);
    expect(await store.enrolmentSpells('other', d(1), d(30))).toEqual([]);
  });

  test('an advisory lock is exclusive while held and free afterwards', async () => {
    let inner: unknown;
    const outer = await store.tryWithAdvisoryLock('sync:s1', async () => {
      inner = await store.tryWithAdvisoryLock('sync:s1', async () => 'second holder ran');
      return 'first holder ran';
    });
    expect(outer).toBe('first holder ran');
    expect(inner).toBe(LOCK_BUSY);
    expect(await store.tryWithAdvisoryLock('sync:s1', async () => 'free again')).toBe('free again');
  });

  // Last in this suite: purge removes across sources.
  test('purge removes history and finished records, never the current indicator value, open dead letters or unsent writes', async () => {
    await store.recordIndicators('pg', 'p1', new Date('2026-01-01T00:00:00Z'), 'r1', [
      { indicator: 'score', value: 1 },
    ]);
    await store.recordIndicators('pg', 'p1', new Date('2026-02-01T00:00:00Z'), 'r2', [
      { indicator: 'score', value: 2 },
    ]);
    await store.recordIndicators('pg', 'p2', new Date('2026-01-01T00:00:00Z'), 'r1', [
      { indicator: 'score', value: 7 },
    ]);
    await store.enqueueOutbox('pg', 'r1', [
      { target: 't', dedupeKey: 'sent-one', resourceType: 'Task', payload: {} },
      { target: 't', dedupeKey: 'pending-one', resourceType: 'Task', payload: {} },
    ]);
    const [sent] = (await store.claimOutbox({ workerId: 'w', limit: 10, leaseSeconds: 60, sourceId: 'pg' })).filter(
      (c) => c.dedupeKey === 'sent-one',
    );
    await store.ackOutbox(sent!.id, 'w', {});
    await store.releaseOutboxClaims('pg');
    await store.addDeadLetters([
      {
        sourceId: 'pg',
        runId: 'r1',
        stage: 'validate',
        resourceType: 'Appointment',
        resourceId: 'open',
        payload: { id: 'open' },
        outcome: badRequest('open'),
      },
      {
        sourceId: 'pg',
        runId: 'r1',
        stage: 'validate',
        resourceType: 'Appointment',
        resourceId: 'done',
        payload: { id: 'done' },
        outcome: badRequest('done'),
      },
    ]);
    const done = (await store.listDeadLetters({ sourceId: 'pg' })).find((d) => d.resourceId === 'done')!;
    expect(await store.dismissDeadLetter(done.id, 'test record', 'key-1')).toBe(true);

    const removed = await store.purgeBefore(new Date(Date.now() + 86_400_000));
    expect(removed.indicator_history).toBeGreaterThanOrEqual(1);
    expect((await store.indicatorHistory({ sourceId: 'pg', patientId: 'p1' })).map((h) => h.value)).toEqual([2]);
    expect((await store.indicatorHistory({ sourceId: 'pg', patientId: 'p2' })).map((h) => h.value)).toEqual([7]);
    expect((await store.listDeadLetters({ sourceId: 'pg' })).map((d) => d.resourceId)).toEqual(['open']);
    const outbox = await store.driver.query<{ dedupe_key: string }>({
      text: "SELECT dedupe_key FROM outbox WHERE source_id = 'pg'",
      values: [],
    });
    expect(outbox.map((r) => r.dedupe_key)).toEqual(['pending-one']);
  });

  if (factory.name === 'postgres') {
    test('concurrent claims from several connections never hand one outbox row to two workers', async () => {
      const items = Array.from({ length: 200 }, (_, i) => ({
        target: 't',
        dedupeKey: `c${i}`,
        resourceType: 'Task',
        payload: { i },
      }));
      await store.enqueueOutbox('conc', null, items);
      const others = await Promise.all(
        [1, 2, 3].map(() => openPostgres({ url: factory.url!, schema: factory.schema!, poolSize: 3 })),
      );
      const stores = [store, ...others.map((d) => new Store(d, d))];
      try {
        const claimedBy = new Map<number, string>();
        let duplicates = 0;
        await Promise.all(
          stores.flatMap((s, si) =>
            [0, 1].map(async (wi) => {
              const worker = `w${si}-${wi}`;
              for (;;) {
                const batch = await s.claimOutbox({ workerId: worker, limit: 7, leaseSeconds: 300, sourceId: 'conc' });
                if (batch.length === 0) return;
                for (const row of batch) {
                  if (claimedBy.has(row.id)) duplicates++;
                  claimedBy.set(row.id, worker);
                  await s.ackOutbox(row.id, worker, {});
                }
              }
            }),
          ),
        );
        expect(duplicates).toBe(0);
        expect(claimedBy.size).toBe(200);
        expect(new Set(claimedBy.values()).size).toBeGreaterThan(1);
        expect(await store.outboxCounts('conc')).toEqual({ sent: 200 });
      } finally {
        await Promise.all(others.map((d) => d.close()));
      }
    });

    test('an advisory lock held by one connection pool is busy for another', async () => {
      const other = await openPostgres({ url: factory.url!, schema: factory.schema! });
      try {
        const seen = await store.tryWithAdvisoryLock('sync:shared', () =>
          other.tryWithAdvisoryLock('sync:shared', async () => 'ran'),
        );
        expect(seen).toBe(LOCK_BUSY);
      } finally {
        await other.close();
      }
    });
  }
});
