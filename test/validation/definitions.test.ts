/**
 * Resource definitions indexed per type from a cache built once: FHIRPath
 * types results exactly as with every definition loaded, the cache is read
 * back instead of the 35 MB package file, a damaged cache is rebuilt, and an
 * unwritable one only costs time.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

type Defs = typeof import('../../src/validation/definitions');
type Core = typeof import('@medplum/core');

/** A fresh copy of the module and of @medplum/core (whose type index is process-wide state). */
function fresh(): { defs: Defs; core: Core } {
  let defs!: Defs;
  let core!: Core;
  jest.isolateModules(() => {
    core = jest.requireActual<Core>('@medplum/core');
    defs = jest.requireActual<Defs>('../../src/validation/definitions');
  });
  return { defs, core };
}

/** A fresh process's view: the definitions cache at `cache`, the given types indexed. */
function indexedFrom(cache: string, types: string[]): { defs: Defs; core: Core } {
  const view = fresh();
  view.defs.useDefinitionsCache(cache);
  view.defs.ensureTypesIndexed(types);
  return view;
}

function typeOf(core: Core, expression: string, resource: object): string | undefined {
  return core.evalFhirPathTyped(expression, [core.toTypedValue(resource)])[0]?.type;
}

const appointment = { resourceType: 'Appointment', status: 'booked', start: '2026-05-01T09:00:00Z', participant: [] };
const patient = { resourceType: 'Patient', birthDate: '1970-02-03' };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fe-defs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('a first use builds the cache; results are typed by the definitions (instant, date), as with everything indexed', () => {
  const cache = path.join(dir, 'cache');
  const { core } = indexedFrom(cache, ['Appointment', 'Patient']);
  expect(typeOf(core, 'start', appointment)).toBe('instant');
  expect(typeOf(core, 'birthDate', patient)).toBe('date');
  expect(existsSync(path.join(cache, '.complete'))).toBe(true);
  expect(JSON.parse(readFileSync(path.join(cache, 'Appointment.json'), 'utf8'))).toMatchObject({
    resourceType: 'StructureDefinition',
    id: 'Appointment',
  });

  const all = fresh();
  all.defs.ensureDefinitionsIndexed();
  expect(typeOf(all.core, 'start', appointment)).toBe('instant');
  expect(typeOf(all.core, 'birthDate', patient)).toBe('date');
});

test('a later process reads the cache, not the package file', () => {
  const cache = path.join(dir, 'cache');
  indexedFrom(cache, ['Patient']);
  // Take Patient out of a complete cache: a process that reads the cache finds no definition and
  // FHIRPath falls back to reading without a schema (a plain string), which shows where it looked.
  unlinkSync(path.join(cache, 'Patient.json'));
  const later = indexedFrom(cache, ['Patient']);
  expect(typeOf(later.core, 'birthDate', patient)).toBe('string');
});

test('a damaged cache file is rebuilt from the package', () => {
  const cache = path.join(dir, 'cache');
  indexedFrom(cache, ['Appointment']);
  writeFileSync(path.join(cache, 'Appointment.json'), '{"resourceType": "Struc');
  const later = indexedFrom(cache, ['Appointment']);
  expect(typeOf(later.core, 'start', appointment)).toBe('instant');
  expect(JSON.parse(readFileSync(path.join(cache, 'Appointment.json'), 'utf8'))).toMatchObject({ id: 'Appointment' });
});

test('where no cache can be written (a read-only install), definitions still come from the package', () => {
  const blocked = path.join(dir, 'a-file');
  writeFileSync(blocked, '');
  const { core } = indexedFrom(path.join(blocked, 'cache'), ['Appointment', 'NotAType', '../etc']);
  expect(typeOf(core, 'start', appointment)).toBe('instant');
  expect(existsSync(path.join(dir, 'a-file.tmp'))).toBe(false);
});

test('contained resources are indexed with their container', () => {
  const { defs } = fresh();
  expect(
    defs.typesIn({
      resourceType: 'Appointment',
      status: 'booked',
      participant: [],
      contained: [{ resourceType: 'Patient' }, { bad: 1 } as never],
    }),
  ).toEqual(['Appointment', 'Patient']);
  expect(defs.typesIn({ resourceType: 'Patient' })).toEqual(['Patient']);
});
