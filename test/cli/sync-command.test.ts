import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { runCliProcessAsync } from '../helpers/cli';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';

test('fhir-engage sync: dry run to a file, a real run with --json, and the exit codes scripts rely on', async () => {
  const emr = await seededSandbox({ patients: 5, seed: 6, fixtures: false, invalidResources: 1 });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-sync-'));
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: cli\n    baseUrl: ${emr.baseUrl}\n    approval: { firstRun: write }\n`,
  );
  const env = { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') };
  try {
    const dry = await runCliProcessAsync(['sync', '--dry-run', '--out', 'bundle.json', '--as-of', TEST_ANCHOR], {
      cwd: dir,
      env,
    });
    const bundle = JSON.parse(readFileSync(path.join(dir, 'bundle.json'), 'utf8')) as Bundle;
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'transaction' });
    expect(bundle.entry?.length).toBeGreaterThan(0);
    expect(emr.repo.count('Provenance')).toBe(0);
    expect(dry.stdout).toContain('DRY RUN sync cli');
    // One invalid resource from the EMR: the run is partially failed, and says so with exit 1.
    expect(dry.status).toBe(1);

    // The same invalid resource again is the same open dead letter: it does not fail every later run.
    const real = await runCliProcessAsync(['sync', '--json', '--full', '--as-of', TEST_ANCHOR], { cwd: dir, env });
    expect(real.status).toBe(0);
    const summary = JSON.parse(real.stdout.trim().split('\n').pop() as string) as {
      status: string;
      writes: Record<string, { created: number }>;
      deadLetters: number;
      deadLettersAdded: number;
    };
    expect(summary.status).toBe('succeeded');
    expect(summary).toMatchObject({ deadLetters: 1, deadLettersAdded: 0 });
    expect(summary.writes.Observation?.created).toBeGreaterThan(0);
    // CI-style runs can insist on none open.
    const strict = await runCliProcessAsync(['sync', '--fail-on-open', '--as-of', TEST_ANCHOR], { cwd: dir, env });
    expect(strict.status).toBe(1);
    expect(strict.stderr).toContain('--fail-on-open: 1 dead letter(s) open');

    const letters = await runCliProcessAsync(['dead-letters', '--source', 'cli'], { cwd: dir, env });
    expect(letters.status).toBe(0);
    expect(letters.stdout).toMatch(/#\d+ \S+ cli validate Appointment\/invalid-appt-001/);
    expect(letters.stdout).toContain('error value at Appointment.status');
    const runs = await runCliProcessAsync(['runs', '--json'], { cwd: dir, env });
    expect(
      runs.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).status),
    ).toEqual(['succeeded', 'succeeded', 'partially-failed']);

    expect((await runCliProcessAsync(['sync', '--source', 'nope'], { cwd: dir, env })).status).toBe(2);
    const badAsOf = await runCliProcessAsync(['sync', '--as-of', 'last tuesday'], { cwd: dir, env });
    expect(badAsOf.status).toBe(2);
    expect(badAsOf.stderr).toContain('--as-of / FHIR_ENGAGE_AS_OF must be an ISO date or instant');
  } finally {
    await emr.close();
  }
});
