import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCliProcess } from '../helpers/cli';

test('start --once --json: syncs the built-in sandbox EMR, lives a few clinic days (each synced), ends with one JSON summary line; report then prints the programme', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-start-'));
  // The clock is pinned (no comparison with the wall-clock date, which fails around midnight UTC).
  const env = { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data'), FHIR_ENGAGE_AS_OF: '2026-06-15T09:30:00Z' };
  const res = runCliProcess(['start', '--once', '--json', '--patients', '20', '--simulate-days', '3'], {
    cwd: dir,
    env,
    timeoutMs: 120_000,
  });
  expect(res.status).toBe(0);
  const lines = res.stdout.trim().split('\n');
  const summary = JSON.parse(lines[lines.length - 1] as string) as {
    status: string;
    runs: { sourceId: string; status: string; asOf: string }[];
    writes: Record<string, { created: number; updated: number; cancelled: number }>;
    deadLetters: number;
    tiers: Record<string, number>;
  };
  expect(summary.status).toBe('succeeded');
  expect(summary.runs).toEqual([expect.objectContaining({ sourceId: 'sandbox', status: 'succeeded' })]);
  // The last simulated day is the day before the as-of day: the clinic is brought up to "today".
  expect(summary.runs[0]?.asOf.slice(0, 10)).toBe('2026-06-14');
  expect(summary.deadLetters).toBe(0);
  expect(Object.values(summary.tiers).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(20);
  expect(res.stderr).toContain('no EMR configured: starting the built-in sandbox EMR');
  expect(res.stderr).toContain('simulating 3 day(s) of clinic life');
  expect(res.stderr.match(/^ {2}\d{4}-\d{2}-\d{2}: \d+ appointment\(s\) kept, \d+ no-show\(s\)/gm)).toHaveLength(3);
  // The first sync's summary (stdout) shows what was written at the start.
  expect(res.stdout).toMatch(/writes Task: [1-9]\d* created/);

  const report = runCliProcess(['report', '--format', 'json', '--source', 'sandbox'], { cwd: dir, env });
  expect(report.status).toBe(0);
  const [r] = JSON.parse(report.stdout) as {
    scope: string;
    reminderEffect: { definition: string };
    satisfaction: unknown;
  }[];
  expect(r?.scope).toBe('source sandbox');
  expect(r?.reminderEffect.definition).toContain('Attendance');
  const md = runCliProcess(['report', '--source', 'sandbox'], { cwd: dir, env });
  expect(md.stdout).toContain('# Programme report: source sandbox');
  expect(md.stdout).toContain('| satisfaction | NPS |');
  const csv = runCliProcess(['report', '--format', 'csv'], { cwd: dir, env }).stdout.trim().split('\n');
  expect(csv[0]).toBe('scope,programme,from,to,figure,part,value,numerator,denominator');
  // Overall, then each source.
  expect(new Set(csv.slice(1).map((l) => l.split(',')[0]))).toEqual(new Set(['all sources', 'source sandbox']));
  expect(runCliProcess(['report', '--format', 'xml'], { cwd: dir, env }).status).toBe(2);
});
