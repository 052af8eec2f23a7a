import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listCases, MAPPING_CASES_DIR, runCases } from '../../src/mapping/test-cases';
import { sharedValidator } from '../../src/validation/validator';
import { readResources } from '../../src/validation/files';
import { runCliProcess } from '../helpers/cli';

describe('shipped mapping cases', () => {
  const results = runCases({ validator: sharedValidator() });

  test('there are at least 12 cases', () => {
    expect(listCases().length).toBeGreaterThanOrEqual(12);
  });

  test.each(results.map((r) => [r.name, r] as const))('%s passes', (_name, result) => {
    expect({ error: result.error, diff: result.diff }).toEqual({ error: undefined, diff: [] });
  });

  test('valid FHIR is never rejected for its shape: in the whole corpus, a resource that passes the base R4 schema is rejected only for want of a patient, with the reason', () => {
    const validator = sharedValidator();
    const byLabel = new Map<string, unknown>();
    for (const dir of listCases()) {
      for (const item of readResources(path.join(dir, 'input'))) {
        const r = item.resource as { resourceType?: string; id?: string } | undefined;
        if (r) byLabel.set(`${path.basename(dir)}:${r.resourceType}/${r.id}`, r);
      }
    }
    const wrongly = results.flatMap((c) =>
      c.actual.rejected
        .filter((rej) => {
          const resource = byLabel.get(`${c.name}:${rej.resource}`);
          return (
            resource !== undefined &&
            validator.conformsToR4(resource) &&
            !/^(no patient|unknown patient): /.test(rej.reason ?? '')
          );
        })
        .map((rej) => `${c.name}: ${rej.resource} (${rej.stage} ${rej.expressions.join(', ')})`),
    );
    expect(wrongly).toEqual([]);
    // The corpus does exercise both kinds of rejection.
    expect(results.some((c) => c.actual.rejected.some((r) => r.reason?.startsWith('no patient: ')))).toBe(true);
    expect(results.some((c) => c.actual.rejected.some((r) => r.stage === 'validate'))).toBe(true);
  });

  test('the corpus has a case per shape for each pulled type, merged records, and Oracle Health- and Epic-style examples', () => {
    const names = results.map((r) => r.name);
    for (const n of [
      'shapes-patient',
      'shapes-patient-merged',
      'shapes-appointment',
      'shapes-careplan',
      'shapes-questionnaire-response',
      'shapes-task',
      'epic-style-references',
      'cerner-style-deviations',
    ])
      expect(names).toContain(n);
    const patient = results
      .find((r) => r.name === 'shapes-patient')
      ?.actual.models.find((m) => m.patientId === 'shape-p1');
    // The Oracle Health merge shape that used to be dead-lettered on gender: now read, gender unknown and why.
    expect(patient?.patient.absent).toEqual({ gender: 'unknown', birthYear: 'masked' });
  });
});

describe('fhir-engage mapping test', () => {
  test('passes on the shipped cases and fails with a readable diff when an expected file is altered', () => {
    const ok = runCliProcess(['mapping', 'test']);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^pass {2}phq9-total-computed/m);

    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-cases-'));
    cpSync(path.join(MAPPING_CASES_DIR, 'phq9-total-computed'), path.join(dir, 'phq9-total-computed'), {
      recursive: true,
    });
    const file = path.join(dir, 'phq9-total-computed', 'expected.json');
    const expected = JSON.parse(readFileSync(file, 'utf8')) as {
      models: { responses: { score: { total: number } }[] }[];
    };
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
