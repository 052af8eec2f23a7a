/**
 * A child process running `fhir-engage sync` is killed (SIGKILL) at a random
 * page, several times; a final run completes, and the EMR holds every
 * expected written resource exactly once.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import { Random } from '../../src/sandbox/random';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { dropSchema, testSchemaName } from '../helpers/drivers';
import { ROOT } from '../helpers/cli';
import { openStore } from '../../src/store/open';

const identifierOf = (r: Resource): string | undefined =>
  ((r as { identifier?: { system?: string; value?: string }[] }).identifier ?? []).find(
    (i) => i.system === DEFAULT_ACTION_SETTINGS.identifierSystem,
  )?.value;

function runSync(
  dir: string,
  env: Record<string, string>,
  killAfterLines?: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'fhir-engage.js'), 'sync', '--as-of', TEST_ANCHOR], {
      cwd: dir,
      env: { PATH: process.env.PATH, LOG_LEVEL: 'silent', LOG_FORMAT: 'pretty', ...env },
    });
    let stdout = '';
    let progress = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      // Plain progress lines (not a TTY): one per type started/finished and per stage.
      progress += d
        .toString()
        .split('\n')
        .filter((l) => l.trim()).length;
      if (killAfterLines !== undefined && progress >= killAfterLines) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => resolve({ code, signal, stdout }));
  });
}

const pgUrl = process.env.TEST_DATABASE_URL;
/**
 * Where the kills fall: a fixed seed, so that a failure is the code's and not the draw's; printed in
 * the test name; another with KILL9_SEED=<seed> npm test -- kill9.
 */
const SEED = process.env.KILL9_SEED ? Number(process.env.KILL9_SEED) : 41_357;

test.each(pgUrl ? ['postgres', 'pglite'] : ['pglite'])(
  `kill -9 at random points of a sync on %s (seed ${SEED}), then a final run: every write exactly once`,
  async (driver) => {
    // Slow pages and writes give the kills something to interrupt.
    const emr = await seededSandbox({ patients: 15, seed: 13, fixtures: false }, { quirks: { delayMs: 15 } });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-kill-'));
    const schema = testSchemaName();
    const env: Record<string, string> =
      driver === 'postgres'
        ? { DATABASE_URL: pgUrl!, DATABASE_SCHEMA: schema }
        : { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') };
    writeFileSync(
      path.join(dir, 'fhir-engage.config.yaml'),
      `sources:\n  - id: killed\n    baseUrl: ${emr.baseUrl}\n    approval: { firstRun: write }\n    pageSize: 20\n`,
    );
    try {
      const rng = new Random(SEED);
      let killed = 0;
      const points: number[] = [];
      for (let i = 0; i < 4; i++) {
        points.push(rng.int(1, 9));
        const res = await runSync(dir, env, points[i]);
        if (res.signal === 'SIGKILL') killed++;
      }
      process.stderr.write(
        `kill -9 on ${driver}: seed ${SEED}, killed after progress lines ${points.join(', ')} (replay: KILL9_SEED=${SEED} npm test -- kill9)\n`,
      );
      expect(killed).toBeGreaterThanOrEqual(2);
      const final = await runSync(dir, env);
      expect(final.code).toBe(0);
      const written = [...emr.repo.all('Task'), ...emr.repo.all('Observation')]
        .map(identifierOf)
        .filter((v): v is string => v !== undefined);
      expect(written.length).toBeGreaterThan(10);
      expect(new Set(written).size).toBe(written.length);
      expect(emr.repo.count('Provenance')).toBeGreaterThanOrEqual(written.length);
      // One more run changes nothing.
      const again = await runSync(dir, env);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/writes Task: 0 created, 0 updated, 0 cancelled, 0 completed/);
      expect([...emr.repo.all('Task'), ...emr.repo.all('Observation')].map(identifierOf).filter(Boolean)).toHaveLength(
        written.length,
      );
    } finally {
      await emr.close();
      if (driver === 'postgres') await dropSchema(pgUrl!, schema);
    }
  },
  180_000,
);

test(`kill -9 during a Bulk Data download (seed ${SEED}): the next run resumes the same export at the committed lines and stores everything once`, async () => {
  const emr = await seededSandbox(
    { patients: 150, seed: 17, fixtures: false },
    { bulk: { preparationMs: 100, linesPerFile: 3000 }, quirks: { bulkChunkDelayMs: 100 } },
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-kill-bulk-'));
  const env = { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') };
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: killed\n    baseUrl: ${emr.baseUrl}\n    writeBack: false\n    pull: { method: bulk }\n`,
  );
  try {
    const rng = new Random(SEED);
    // Counted in the server's progress, not in wall-clock time (which a busy machine stretches): the kill
    // falls after this many 16 KB chunks of the files that follow the Patient file.
    const chunks = rng.int(10, 40);
    const killed = await new Promise<NodeJS.Signals | null>((resolve) => {
      const child = spawn(
        process.execPath,
        [path.join(ROOT, 'bin', 'fhir-engage.js'), 'sync', '--as-of', TEST_ANCHOR],
        { cwd: dir, env: { PATH: process.env.PATH, LOG_LEVEL: 'silent', LOG_FORMAT: 'pretty', ...env } },
      );
      // Patient files are stored before any other file is asked for: once a second file is requested,
      // something is committed, and the kill falls in the middle of the slow downloads that follow.
      let from: number | undefined;
      const poll = setInterval(() => {
        const c = emr.bulkCounters();
        if (c.filesServed < 2) return;
        from ??= c.slowChunks;
        if (c.slowChunks - from < chunks) return;
        clearInterval(poll);
        child.kill('SIGKILL');
      }, 20);
      child.on('exit', (_code, signal) => {
        clearInterval(poll);
        resolve(signal);
      });
    });
    process.stderr.write(
      `kill -9 during a bulk download: seed ${SEED}, killed after ${chunks} chunks of the files after the first\n`,
    );
    expect(killed).toBe('SIGKILL');
    const final = await runSync(dir, env);
    expect(final.code).toBe(0);
    expect(final.stdout).toContain('pulled (Bulk Data $export):');
    // The same export, resumed (no second kick-off), reading only what was not committed before the kill.
    expect(emr.bulkCounters().exportsStarted).toBe(1);
    const types = ['Patient', 'Appointment', 'CarePlan', 'QuestionnaireResponse'];
    const served = types.reduce((n, t) => n + emr.repo.all(t).length, 0);
    const received = [...final.stdout.matchAll(/^ {2}\w+ +bulk: \d+ batch\(es\), (\d+) received/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(served);
    // Everything served is stored, each resource once.
    const store = await openStore({ dataDir: env.FHIR_ENGAGE_DATA_DIR, schema: 'public' });
    try {
      for (const t of types) expect((await store.listResourceIds('killed', t)).length).toBe(emr.repo.all(t).length);
      expect(await store.getBulkExport('killed')).toBeUndefined();
    } finally {
      await store.close();
    }
  } finally {
    await emr.close();
  }
}, 180_000);
