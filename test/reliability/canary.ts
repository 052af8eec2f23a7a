/**
 * PHI canary: a synthetic patient with unique words in every identifying place (name, MRN, phone,
 * free-text answers, an invalid Appointment that becomes a dead letter) is synced with debug logs
 * on; then every CLI command that prints about runs, dead letters and the programme, and every API
 * route that answers about them and the patient, is called. Each word is searched in every log
 * line, CLI output, API response and error body: it must appear nowhere (the FHIR resources
 * themselves, in the store and in the EMR, are where it belongs).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Appointment, Patient, QuestionnaireResponse } from '@medplum/fhirtypes';
import { createApiApp } from '../../src/api/app';
import { Metrics } from '../../src/api/metrics';
import { loadConfig } from '../../src/config/load';
import { openStore } from '../../src/store/open';
import { SyncRunner } from '../../src/sync/runner';
import { seededSandbox } from '../helpers/sandbox';
import { spawnCli } from './proc';

export const CANARY = {
  family: 'Zyxqvcanary',
  given: 'Phiwatcher',
  mrn: 'CANARY-MRN-7730991',
  phone: '+1-555-0177-3309',
  answer: 'canary free text qwvzzle',
  comment: 'Zyxqv appointment note',
};

export interface CanaryResult {
  places: number;
  bytesSearched: number;
  hits: { where: string; word: string }[];
  /** Positive controls: each word was found where it belongs (the store), and every CLI command ran as expected. */
  storedWords: Record<string, boolean>;
  commands: { args: string; code: number | null; expected: number[] }[];
}

export async function phiCanary(): Promise<CanaryResult> {
  const emr = await seededSandbox({ patients: 6, seed: 21, fixtures: false });
  const patient = await emr.repo.createResource<Patient>({
    resourceType: 'Patient',
    id: 'canary-patient',
    identifier: [
      {
        system: 'urn:oid:1.2.36.146.595.217.0.1',
        value: CANARY.mrn,
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
      },
    ],
    name: [{ family: CANARY.family, given: [CANARY.given] }],
    telecom: [{ system: 'phone', value: CANARY.phone }],
    birthDate: '1961-02-03',
  });
  const ref = { reference: `Patient/${patient.id}`, display: `${CANARY.given} ${CANARY.family}` };
  await emr.repo.createResource<Appointment>({
    resourceType: 'Appointment',
    status: 'booked',
    start: '2026-06-03T10:00:00Z',
    end: '2026-06-03T10:30:00Z',
    comment: CANARY.comment,
    participant: [{ actor: ref, status: 'accepted' }],
  });
  // Invalid: a dead letter whose payload holds the canary.
  await emr.repo.createResource({
    resourceType: 'Appointment',
    status: 'booked',
    start: 'next tuesday',
    comment: CANARY.comment,
    participant: [{ actor: ref, status: 'accepted' }],
  } as unknown as Appointment);
  await emr.repo.createResource<QuestionnaireResponse>({
    resourceType: 'QuestionnaireResponse',
    status: 'completed',
    authored: '2026-05-20T09:00:00Z',
    subject: ref,
    item: [{ linkId: 'comments', text: 'Anything else?', answer: [{ valueString: CANARY.answer }] }],
  });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-canary-'));
  const env = { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'debug', LOG_FORMAT: 'json' };
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: canary\n    baseUrl: ${emr.baseUrl}\n    approval: { firstRun: write }\n`,
  );
  /** `shows`: a care-team view that names the patient by design (access-logged): name and phone may appear there, nothing else. */
  const outputs: { where: string; text: string; shows?: boolean }[] = [];
  const commands: CanaryResult['commands'] = [];
  const storedWords: Record<string, boolean> = {};
  try {
    // A command that crashed prints nothing to search: each must end as a working command does (a sync
    // with the canary's invalid Appointment is partially failed: exit 1; the others 0).
    const planned: [string[], number[]][] = [
      [['sync', '--as-of', '2026-06-01T00:00:00.000Z'], [1]],
      [
        ['sync', '--json', '--as-of', '2026-06-01T00:00:00.000Z'],
        [0, 1],
      ],
      [['runs'], [0]],
      [['dead-letters'], [0]],
      [['report'], [0]],
      [['report', '--format', 'csv'], [0]],
      [['report', '--format', 'json'], [0]],
      [['dead-letters', '--json'], [0]],
      [['runs', '--json'], [0]],
    ];
    for (const [args, expected] of planned) {
      const res = await spawnCli(args, env, dir).done;
      commands.push({ args: args.join(' '), code: res.code, expected });
      outputs.push(
        { where: `fhir-engage ${args[0]} ${args.slice(1).join(' ')} (stdout)`, text: res.stdout },
        { where: `fhir-engage ${args.join(' ')} (stderr, debug logs)`, text: res.stderr },
      );
    }
    const store = await openStore({ dataDir: path.join(dir, 'data'), schema: 'public' });
    // The words reached the store (resources and the dead letter's payload): a search that finds them nowhere else means something.
    for (const word of Object.values(CANARY)) {
      const [row] = await store.driver.query<{ n: number }>({
        text: `SELECT (SELECT count(*) FROM resources WHERE resource::text LIKE '%' || $1 || '%')::int + (SELECT count(*) FROM dead_letters WHERE payload::text LIKE '%' || $1 || '%')::int AS n`,
        values: [word],
      });
      storedWords[word] = Number(row?.n ?? 0) > 0;
    }
    // Minimum necessary: the free-text answer is in the pulled resource, never in the derived model.
    const [inModel] = await store.driver.query<{ n: number }>({
      text: `SELECT count(*)::int AS n FROM patient_models WHERE model::text LIKE '%' || $1 || '%'`,
      values: [CANARY.answer],
    });
    if (Number(inModel?.n ?? 0) > 0)
      outputs.push({ where: 'patient_models (the derived engagement model)', text: CANARY.answer });
    await store.close();
    const reopened = await openStore({ dataDir: path.join(dir, 'data'), schema: 'public' });
    const storeForApi = reopened;
    const config = { ...loadConfig({ env: {}, cwd: dir }), sources: [] };
    const runner = new SyncRunner(storeForApi, config, () => undefined);
    const key = 'canary-key';
    const server = http.createServer(
      createApiApp({ store: storeForApi, config, runner, metrics: new Metrics(false), apiKeys: [key] }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const routes: [string, string, string?, 'shows'?][] = [
        ['GET', '/api/sources'],
        ['GET', '/api/runs'],
        ['GET', '/api/dead-letters'],
        ['GET', '/api/programme'],
        ['GET', '/api/programme/report'],
        ['GET', '/api/programme/report?format=csv'],
        ['GET', '/api/patients/canary-patient/engagement'],
        ['GET', '/api/patients/canary-patient/overview', undefined, 'shows'],
        ['GET', '/api/safety', undefined, 'shows'],
        ['GET', '/api/worklist', undefined, 'shows'],
        ['POST', '/api/worklist/search', JSON.stringify({ search: CANARY.family }), 'shows'],
        ['POST', '/api/patients/search', JSON.stringify({ identifier: CANARY.mrn })],
        ['POST', '/api/patients/search', JSON.stringify({ identifier: `${CANARY.mrn}-unknown` })],
        ['GET', '/api/access-log'],
        ['GET', '/api/metrics'],
        ['GET', `/api/patients/${encodeURIComponent(CANARY.family)}/overview`],
      ];
      for (const [method, route, body, shows] of routes) {
        const res = await fetch(`${base}${route}`, {
          method,
          headers: { 'X-API-Key': key, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body } : {}),
        });
        outputs.push({
          where: `${method} ${route.replace(CANARY.mrn, '<mrn>')} → ${res.status}`,
          text: await res.text(),
          ...(shows ? { shows: true } : {}),
        });
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runner.stop();
      await storeForApi.close();
    }
  } finally {
    await emr.close();
  }
  // The search request names the MRN on purpose: its answer may say found or not, never repeat it.
  const words = [CANARY.family, CANARY.given, CANARY.mrn, CANARY.phone, CANARY.answer, CANARY.comment];
  // The care team's views name the patient and their phone (who to call): never the MRN, an answer or a note.
  const shown = new Set([CANARY.family, CANARY.given, CANARY.phone]);
  const hits = outputs.flatMap((o) =>
    words.filter((w) => o.text.includes(w) && !(o.shows && shown.has(w))).map((word) => ({ where: o.where, word })),
  );
  return {
    places: outputs.length,
    bytesSearched: outputs.reduce((n, o) => n + o.text.length, 0),
    hits,
    storedWords,
    commands,
  };
}
