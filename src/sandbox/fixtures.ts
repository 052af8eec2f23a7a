/**
 * The third-party fixtures the sandbox serves (fixtures/README.md gives their
 * origin and licence). Synthea bundles use urn:uuid references; they are
 * rewritten to Type/id as a server would store them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';

export const FIXTURES_DIR = path.join(__dirname, '..', '..', 'fixtures');

/** Types the sandbox loads from fixtures: what fhir-engage pulls, plus what they refer to. */
const SERVED_TYPES = new Set([
  'Patient',
  'CarePlan',
  'Questionnaire',
  'QuestionnaireResponse',
  'Appointment',
  'Practitioner',
]);

function rewriteUuidRefs(value: unknown, map: Map<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteUuidRefs(v, map));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = k === 'reference' && typeof v === 'string' && map.has(v) ? map.get(v) : rewriteUuidRefs(v, map);
    }
    return out;
  }
  return value;
}

function fromBundle(bundle: Bundle): Resource[] {
  const map = new Map<string, string>();
  for (const e of bundle.entry ?? []) {
    if (e.fullUrl && e.resource?.id) map.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
  }
  return (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is Resource => r !== undefined && SERVED_TYPES.has(r.resourceType))
    .map((r) => rewriteUuidRefs(r, map) as Resource);
}

/** Reads every fixture resource of a served type, in a fixed order. */
export function loadFixtureResources(dir: string = FIXTURES_DIR): Resource[] {
  const out: Resource[] = [];
  for (const sub of ['synthea', 'us-core']) {
    const folder = path.join(dir, sub);
    for (const file of readdirSync(folder)
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      const json = JSON.parse(readFileSync(path.join(folder, file), 'utf8')) as Resource;
      if (json.resourceType === 'Bundle') out.push(...fromBundle(json));
      else if (SERVED_TYPES.has(json.resourceType)) out.push(json);
    }
  }
  return out;
}
