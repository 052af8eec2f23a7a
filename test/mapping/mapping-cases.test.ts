import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listCases, MAPPING_CASES_DIR, runCases } from '../../src/mapping/test-cases';
import { sharedValidator } from '../../src/validation/validator';
import { runCliProcess } from '../helpers/cli';

describe('shipped mapping cases', () => {
  const results = runCases({ validator: sharedValidator() });

  test('there are at least 12 cases', () => {
    expect(listCases().length).toBeGreaterThanOrEqual(12);
  });

  test.each(results.map((r) => [r.name, r] as const))('%s passes', (_name, result) => {
    expect({ error: result.error, diff: result.diff }).toEqual({ error: undefined, diff: [] });
  });
});

describe('fhir-engage mapping test', () => {
  test('passes on the shipped cases and fails with a readable diff when an expected file is altered', () => {
    const ok = runCliProcess(['mapping', 'test']);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^pass {2}phq9-total-computed/m);

    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-cases-'));
    cpSync(path.join(MAPPING_CASES_DIR, 'phq9-total-computed'), path.join(dir, 'phq9-total-computed'), { recursive: true });
    const file = path.join(dir, 'phq9-total-computed', 'expected.json');
    const expected = JSON.parse(readFileSync(file, 'utf8')) as { models: { responses: { score: { total: number } }[] }[] };
    expected.models[0]!.responses[0]!.score.total = 15;
    writeFileSync(file, JSON.stringify(expected, null, 2));
    const failed = runCliProcess(['mapping', 'test', dir]);
    expect(failed.status).toBe(1);
    expect(failed.stdout).toContain('FAIL  phq9-total-computed');
    expect(failed.stdout).toContain('models[0].responses[0].score.total: expected 15, got 14');
    expect(failed.stdout).toContain('0 passed, 1 failed');

    const updated = runCliProcess(['mapping', 'test', dir, '--update']);
    expect(updated.status).toBe(0);
    expect(runCliProcess(['mapping', 'test', dir]).status).toBe(0);
  });
});
