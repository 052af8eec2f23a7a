/**
 * First loads through FHIR Bulk Data `$export` against the sandbox EMR: the
 * same store as searches, resumable at the committed line, bad lines and the
 * server's error file as dead letters, expired files restarting the export,
 * `_since` for what changed, and searches afterwards from transactionTime.
 */
import os from 'node:os';
import type { Appointment } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import { DEFAULT_PULL } from '../../src/config/types';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { bulkSource, testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

const config: AppConfig = loadConfig({ env: {}, cwd: os.tmpdir() });
const AS_OF = new Date(TEST_ANCHOR);
const FAST = { preparationMs: 50, retryAfterSeconds: 1 };

/** Stored resources of a source as `Type/id → content hash`. */
async function storedHashes(store: Store, sourceId: string): Promise<Map<string, string>> {
  const rows = await store.driver.query<{ resource_type: string; resource_id: string; content_hash: string }>({
    text: `SELECT resource_type, resource_id, content_hash FROM resources WHERE source_id = $1 AND resource_type IN ('Patient', 'Appointment', 'CarePlan', 'QuestionnaireResponse')`,
    values: [sourceId],
  });
  return new Map(rows.map((r) => [`${r.resource_type}/${r.resource_id}`, r.content_hash]));
}

let store: Store;
beforeAll(async () => {
  store = await memoryStore();
});
afterAll(() => store.close());

test('a bulk first load of 1,000 patients stores exactly what searches store (ids and hashes); the next run searches from transactionTime', async () => {
  const emr = await seededSandbox({ patients: 1000, seed: 5 }, { bulk: { ...FAST, linesPerFile: 4000 } });
  const started = Date.now() - 1000;
  try {
    const byBulk = await syncSource(
      store,
      config,
      bulkSource(emr, 'bulk-1k', { pull: { ...DEFAULT_PULL, method: 'auto' } }),
      { asOf: AS_OF },
    );
    expect(byBulk.status).toBe('succeeded');
    expect(byBulk.pullMethod).toBe('bulk');
    expect(emr.bulkCounters().exportsStarted).toBe(1);
    expect(byBulk.pull.filter((t) => t.mode === 'bulk').map((t) => [t.resourceType, t.status])).toEqual([
      ['Patient', 'ok'],
      ['Appointment', 'ok'],
      ['CarePlan', 'ok'],
      ['QuestionnaireResponse', 'ok'],
    ]);
    const bySearch = await syncSource(
      store,
      config,
      testSource({ id: 'search-1k', baseUrl: emr.baseUrl, writeBack: false }),
      { asOf: AS_OF },
    );
    expect(bySearch.pullMethod).toBe('search');
    const a = await storedHashes(store, 'bulk-1k');
    const b = await storedHashes(store, 'search-1k');
    expect(a.size).toBeGreaterThan(20_000);
    expect(a).toEqual(b);
    expect((await store.listComputations('bulk-1k')).length).toBe((await store.listComputations('search-1k')).length);

    // Auto: the next run searches, from the manifest's transactionTime less the overlap.
    const next = await syncSource(
      store,
      config,
      bulkSource(emr, 'bulk-1k', { pull: { ...DEFAULT_PULL, method: 'auto' } }),
      { asOf: AS_OF },
    );
    expect(next.pullMethod).toBe('search');
    expect(emr.bulkCounters().exportsStarted).toBe(1);
    expect(next.pull.every((t) => t.mode === 'incremental' && t.new === 0 && t.changed === 0)).toBe(true);
    // The watermark is the export's transactionTime (the server's clock at kick-off), not the newest lastUpdated stored.
    const watermark = (await store.getWatermark('bulk-1k', 'Appointment'))!.getTime();
    expect(watermark).toBeGreaterThanOrEqual(started);
    expect(next.pull.find((t) => t.resourceType === 'Appointment')?.since).toBe(
      new Date(watermark - 300_000).toISOString(),
    );
    expect(await store.getBulkExport('bulk-1k')).toBeUndefined();
  } finally {
    await emr.close();
  }
}, 300_000);

test('a crash during the download resumes each file at its last committed line (Range), storing every resource once', async () => {
  const emr = await seededSandbox({ patients: 60, seed: 6 }, { bulk: { ...FAST, linesPerFile: 5000 } });
  try {
    const source = bulkSource(emr, 'bulk-crash');
    let batches = 0;
    const crashed = await syncSource(store, config, source, {
      asOf: AS_OF,
      afterPageCommitted: (type) => {
        if (type === 'Appointment' && ++batches === 1) throw new Error('simulated crash after a committed batch');
      },
    });
    expect(crashed.status).not.toBe('succeeded');
    const saved = await store.getBulkExport('bulk-crash');
    const appointmentFile = saved?.files.find((f) => f.resourceType === 'Appointment' && !f.done);
    expect(emr.repo.all('Appointment').length).toBeGreaterThan(600);
    expect(appointmentFile?.lines).toBe(500);
    const before = { ...emr.bulkCounters() };
    const resumed = await syncSource(store, config, source, { asOf: AS_OF });
    expect(resumed.status).toBe('succeeded');
    expect(emr.bulkCounters().exportsStarted).toBe(1);
    expect(emr.bulkCounters().rangeRequests).toBeGreaterThan(before.rangeRequests);
    // The resumed run stored only the lines after the crash: nothing counted twice, nothing missing.
    const appointments = emr.repo.all('Appointment').length;
    expect(
      crashed.pull.find((t) => t.resourceType === 'Appointment')!.new +
        resumed.pull.find((t) => t.resourceType === 'Appointment')!.new,
    ).toBe(appointments);
    expect((await store.listResourceIds('bulk-crash', 'Appointment')).length).toBe(appointments);
    expect(await store.getBulkExport('bulk-crash')).toBeUndefined();
  } finally {
    await emr.close();
  }
});

test('a download that breaks off is reopened at the committed byte; a bad line is one dead letter naming file and line; the error file becomes dead letters', async () => {
  const emr = await seededSandbox(
    { patients: 40, seed: 7 },
    { bulk: { ...FAST, linesPerFile: 5000 }, quirks: { bulkTruncateOnce: true, bulkBadLine: 3, bulkErrorEvery: 50 } },
  );
  try {
    const summary = await syncSource(store, config, bulkSource(emr, 'bulk-bad'), { asOf: AS_OF });
    expect(emr.bulkCounters().truncatedDownloads).toBe(1);
    const letters = await store.listDeadLetters({ sourceId: 'bulk-bad', limit: 10_000 });
    const badLines = letters.filter((l) =>
      /line 3 of file .*\$export-file\/[0-9a-f]+\/\d+: not valid JSON/.test(JSON.stringify(l.outcome)),
    );
    expect(badLines).toHaveLength(4); // one per type's first file
    const exportErrors = letters.filter((l) => JSON.stringify(l.outcome).includes('could not be exported'));
    const served = ['Patient', 'Appointment', 'CarePlan', 'QuestionnaireResponse'].reduce(
      (n, t) => n + Math.floor(emr.repo.all(t).length / 50),
      0,
    );
    expect(exportErrors).toHaveLength(served);
    // Everything else is stored: served = stored + dead-lettered, per type.
    for (const type of ['Appointment', 'QuestionnaireResponse']) {
      const total = emr.repo.all(type).length;
      const stored = (await store.listResourceIds('bulk-bad', type)).length;
      expect(stored).toBe(total - Math.floor(total / 50) - 1);
    }
    expect(summary.pull.some((t) => t.notes.some((n) => /broke off.*resumed at line/.test(n)))).toBe(true);
    expect(summary.deadLetters.thisRun).toBe(letters.length);
  } finally {
    await emr.close();
  }
});

test('expired files start a new export; an incremental bulk run asks _since and gets only what changed', async () => {
  let now = Date.parse('2026-06-01T00:00:00Z');
  const emr = await seededSandbox(
    { patients: 30, seed: 8 },
    { now: () => now, bulk: { preparationMs: 0, fileTtlMs: 60_000, linesPerFile: 100 } },
  );
  try {
    const source = bulkSource(emr, 'bulk-exp');
    // A crash after the first batch, then the files expire before the next run.
    const first = await syncSource(store, config, source, {
      asOf: AS_OF,
      afterPageCommitted: () => {
        throw new Error('crash');
      },
    });
    expect(first.status).not.toBe('succeeded');
    now += 120_000;
    const second = await syncSource(store, config, source, { asOf: AS_OF });
    expect(second.status).toBe('succeeded');
    expect(emr.bulkCounters().expiredRequests).toBeGreaterThan(0);
    expect(emr.bulkCounters().exportsStarted).toBe(2);
    expect(second.pull[0]?.notes.join(' ')).toMatch(
      /no longer available on the server \(HTTP 410\).*a new export was started/,
    );

    const appt = emr.repo.all('Appointment')[0] as Appointment;
    now += 60_000;
    await emr.repo.updateResource({ ...appt, comment: 'moved' });
    const third = await syncSource(store, config, source, { asOf: AS_OF });
    expect(third.status).toBe('succeeded');
    expect(third.pull.find((t) => t.resourceType === 'Appointment')).toMatchObject({
      mode: 'bulk',
      received: 1,
      changed: 1,
    });
    expect(third.pull.find((t) => t.resourceType === 'Patient')?.received).toBe(0);
    expect(third.pull[0]?.since).toBeDefined();
  } finally {
    await emr.close();
  }
});

test('a group-level export takes only the Group’s patients; a group that does not exist is a clear failure and nothing is written', async () => {
  const emr = await seededSandbox({ patients: 12, seed: 9, fixtures: true }, { bulk: FAST });
  try {
    const cohort = await syncSource(
      store,
      config,
      bulkSource(emr, 'bulk-group', {
        pull: { method: 'bulk', bulk: { ...DEFAULT_PULL.bulk, level: 'group', groupId: 'engagement-cohort' } },
      }),
      { asOf: AS_OF },
    );
    expect(cohort.status).toBe('succeeded');
    const patients = await store.listResourceIds('bulk-group', 'Patient');
    expect(patients).toHaveLength(12);
    expect(patients.every((id) => id.startsWith('gen-pat-'))).toBe(true);
    const missing = await syncSource(
      store,
      config,
      bulkSource(emr, 'bulk-nogroup', {
        pull: { method: 'bulk', bulk: { ...DEFAULT_PULL.bulk, level: 'group', groupId: 'nope' } },
      }),
      { asOf: AS_OF },
    );
    expect(missing.status).toBe('failed');
    expect(missing.pull[0]?.error).toMatch(
      /the export kick-off http:\/\/\S+\/Group\/nope\/\$export\?\S+ was refused: HTTP 404 — the server says: Group\/nope is not known/,
    );
    expect(missing.patients.recomputed).toBe(0);
  } finally {
    await emr.close();
  }
});
