/**
 * Mapping test cases (fixtures/mappings/<case>/): input resources → the
 * expected engagement models and rejections. What integration engineers run
 * in their own CI before a mapping change goes live.
 *
 * A case folder holds `case.yaml` (description, optional `source` whose
 * overrides apply), `input/` (JSON resources, Bundles or NDJSON) and
 * `expected.json` ({ models, rejected }).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Patient, Questionnaire, Resource } from '@medplum/fhirtypes';
import { readResources } from '../validation/files';
import type { ResourceValidator } from '../validation/validator';
import { buildModel, questionnaireLookup } from './build-model';
import { jsonDiff } from './diff';
import { loadMappings } from './load';
import type { EngagementModel } from './model';
import { patientOfWithMappings } from './patient-of';
import { patientIdentifierIndex } from './patient-ref';
import { buildRoster, planCompute, resourcesOfUnit } from './patient-roster';
import { loadInstruments } from './scoring';
import { readYamlFile } from './yaml-source';

export const MAPPING_CASES_DIR = path.join(__dirname, '..', '..', 'fixtures', 'mappings');

export interface Rejection {
  resource: string;
  stage: 'validate' | 'map';
  expressions: string[];
  /** Why no patient could be attached (no resolvable reference, or a patient the input does not contain). */
  reason?: string;
}

export interface CaseOutput {
  models: EngagementModel[];
  rejected: Rejection[];
  /** Patient records replaced by another (link replaced-by): no model of their own. */
  merged?: string[];
}

export interface CaseResult {
  name: string;
  description?: string;
  passed: boolean;
  diff: string[];
  actual: CaseOutput;
  error?: string;
}

export interface RunOptions {
  casesDir?: string;
  mappingsDir?: string;
  validator: ResourceValidator;
  update?: boolean;
  only?: string[];
}

function label(r: unknown): string {
  const x = r as { resourceType?: string; id?: string };
  return `${x?.resourceType ?? '?'}/${x?.id ?? '?'}`;
}

/** The case's input: valid resources, with rejections for what is not JSON or not valid, and the bundles' fullUrls. */
function readInput(dir: string, validator: RunOptions['validator']) {
  const rejected: Rejection[] = [];
  const valid: Resource[] = [];
  const fullUrls = new Map<string, string>();
  for (const item of readResources(path.join(dir, 'input'))) {
    const r = item.resource as Resource | undefined;
    if (item.fullUrl && r?.id) fullUrls.set(item.fullUrl, `${r.resourceType}/${r.id}`);
    if (item.parseError) {
      rejected.push({ resource: path.relative(dir, item.where), stage: 'validate', expressions: ['(not JSON)'] });
      continue;
    }
    const result = validator.validate(item.resource);
    if (!result.valid) {
      rejected.push({
        resource: label(item.resource),
        stage: 'validate',
        expressions: (result.outcome?.issue ?? [])
          .filter((i) => i.severity === 'error')
          .flatMap((i) => i.expression ?? []),
      });
      continue;
    }
    valid.push(item.resource as Resource);
  }
  return { rejected, valid, fullUrls };
}

/**
 * The same steps as a sync: attach each resource to its patient, then compute only patients the
 * input contains, merged records counting for their survivor.
 */
function computeCase(dir: string, options: RunOptions, source: string | undefined): CaseOutput {
  const mappings = loadMappings({ dir: options.mappingsDir, sourceId: source });
  const instruments = loadInstruments({ dir: options.mappingsDir, sourceId: source });
  const patientOf = patientOfWithMappings(mappings);
  const { rejected, valid, fullUrls } = readInput(dir, options.validator);
  const lookup = questionnaireLookup(valid.filter((r): r is Questionnaire => r.resourceType === 'Questionnaire'));
  const patients = valid.filter((r) => r.resourceType === 'Patient' && r.id).map((p) => p as Patient & { id: string });
  const refs = { fullUrls, patientByIdentifier: patientIdentifierIndex(patients) };
  const byPatient = new Map<string, Resource[]>();
  for (const r of valid) {
    const p = patientOf(r, refs);
    if (p && 'id' in p) {
      byPatient.set(p.id, [...(byPatient.get(p.id) ?? []), r]);
    } else if (p) {
      // A resource that names no patient cannot be attached to anyone: say so, never drop it silently.
      rejected.push({
        resource: label(r),
        stage: 'map',
        expressions: [mappings[r.resourceType]?.fields.find((f) => f.name === 'patient')?.expression ?? 'patient'],
        reason: `no patient: ${p.reason}`,
      });
    }
  }
  const plan = planCompute([...byPatient.keys()].sort(), buildRoster(patients));
  for (const id of plan.unknown) {
    for (const r of byPatient.get(id) ?? [])
      rejected.push({
        resource: label(r),
        stage: 'map',
        expressions: [],
        reason: 'unknown patient: the input has no Patient with this id',
      });
  }
  const models: EngagementModel[] = [];
  for (const unit of plan.compute) {
    const built = buildModel(source ?? 'test', unit.patientId, resourcesOfUnit(unit, byPatient), {
      mappings,
      instruments,
      questionnaires: lookup,
    });
    models.push(built.model);
    for (const f of built.failures) {
      rejected.push({
        resource: label(f.resource),
        stage: 'map',
        expressions: f.outcome.issue.map((i) => String(i.diagnostics)),
      });
    }
  }
  return { models, rejected, ...(plan.merged.length ? { merged: plan.merged } : {}) };
}

/** Runs one case folder; never throws for a broken case (it fails with the error). */
export function runCase(dir: string, options: RunOptions): CaseResult {
  const name = path.basename(dir);
  let description: string | undefined;
  try {
    const meta = existsSync(path.join(dir, 'case.yaml'))
      ? (readYamlFile(path.join(dir, 'case.yaml')).data as { description?: string; source?: string })
      : {};
    description = meta.description;
    const actual = computeCase(dir, options, meta.source);
    const expectedFile = path.join(dir, 'expected.json');
    if (options.update) {
      writeFileSync(expectedFile, `${JSON.stringify(actual, null, 2)}\n`);
      return { name, description, passed: true, diff: [], actual };
    }
    if (!existsSync(expectedFile)) {
      const error = `no expected.json (run with --update after reviewing the output)`;
      return { name, description, passed: false, diff: [], actual, error };
    }
    const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as unknown;
    const diff = jsonDiff(expected, JSON.parse(JSON.stringify(actual)));
    return { name, description, passed: diff.length === 0, diff, actual };
  } catch (err) {
    const actual = { models: [], rejected: [] };
    return { name, description, passed: false, diff: [], actual, error: (err as Error).message };
  }
}

export function listCases(casesDir: string = MAPPING_CASES_DIR): string[] {
  return readdirSync(casesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(casesDir, d.name, 'input')))
    .map((d) => path.join(casesDir, d.name))
    .sort();
}

export function runCases(options: RunOptions): CaseResult[] {
  return listCases(options.casesDir)
    .filter((dir) => !options.only?.length || options.only.includes(path.basename(dir)))
    .map((dir) => runCase(dir, options));
}
