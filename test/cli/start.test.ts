import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCliProcess } from '../helpers/cli';

test('start --once --json: syncs the built-in sandbox EMR, writes Tasks and Observations, ends with one JSON summary line', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-start-'));
  const res = runCliProcess(['start', '--once', '--json', '--patients', '20'], { cwd: dir, env: { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') }, timeoutMs: 120_000 });
  expect(res.status).toBe(0);
  const lines = res.stdout.trim().split('\n');
  const summary = JSON.parse(lines[lines.length - 1] as string) as {
    status: string;
    runs: { sourceId: string; status: string }[];
    resources: Record<string, number>;
    writes: Record<string, { created: number; updated: number; cancelled: number }>;
    deadLetters: number;
    tiers: Record<string, number>;
  };
  expect(summary.status).toBe('succeeded');
  expect(summary.runs).toEqual([expect.objectContaining({ sourceId: 'sandbox', status: 'succeeded' })]);
  expect(summary.resources.Patient).toBeGreaterThanOrEqual(20);
  expect(summary.writes.Task?.created).toBeGreaterThan(0);
  expect(summary.writes.Observation?.created).toBeGreaterThan(0);
  expect(summary.deadLetters).toBe(0);
  expect(Object.values(summary.tiers).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(20);
  expect(res.stderr).toContain('no EMR configured: starting the built-in sandbox EMR');
});
