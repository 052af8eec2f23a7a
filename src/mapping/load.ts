/**
 * Loading of mappings/<Type>.yaml and the per-source overrides in
 * mappings/sources/<source-id>/<Type>.yaml. Every FHIRPath is parsed once
 * here and tried on an empty resource, so that a syntax error or an unknown
 * function is reported at load time with file, line and field, not mid-run.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { evalFhirPathTyped, parseFhirPath, toTypedValue, type FhirPathAtom } from '@medplum/core';
import { configErrors } from '../errors';
import { ensureTypesIndexed } from '../validation/definitions';
import { MAPPED_TYPES, type FieldSpec, type ValueKind } from './spec';
import { readYamlFile, type YamlFile, type YamlPath } from './yaml-source';

export const MAPPINGS_DIR = path.join(__dirname, '..', '..', 'mappings');

export interface CompiledField {
  name: string;
  expression: string;
  atom: FhirPathAtom;
  kind: ValueKind;
  required: boolean;
  map?: Record<string, string | number | boolean>;
  default?: string | number | boolean;
  /** Where the field was defined: file:line. */
  where: string;
}

export interface CompiledList {
  name: string;
  expression: string;
  atom: FhirPathAtom;
  where: string;
  fields: CompiledField[];
}

export interface CompiledMapping {
  resourceType: string;
  fields: CompiledField[];
  lists: CompiledList[];
  /** Files that contributed (the default first, then the override). */
  files: string[];
}

export type MappingSet = Record<string, CompiledMapping>;

interface Problem {
  text: string;
}

const FIELD_KEYS = new Set(['path', 'map', 'default', 'description']);
const TOP_KEYS = new Set(['resourceType', 'description', 'fields', 'lists']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function compileField(
  y: YamlFile,
  at: YamlPath,
  name: string,
  spec: FieldSpec,
  raw: unknown,
  resourceType: string,
  problems: Problem[],
): CompiledField | undefined {
  const where = y.where(at);
  const label = at.join('.');
  if (!isRecord(raw)) {
    problems.push({ text: `${where}: ${label} must be a mapping with at least "path"` });
    return undefined;
  }
  for (const key of Object.keys(raw)) {
    if (!FIELD_KEYS.has(key))
      problems.push({
        text: `${y.where([...at, key])}: ${label}.${key} is not a known key (expected: ${[...FIELD_KEYS].join(', ')})`,
      });
  }
  if (typeof raw.path !== 'string' || raw.path.trim() === '') {
    problems.push({ text: `${where}: ${label}.path is required: a FHIRPath expression` });
    return undefined;
  }
  let atom: FhirPathAtom;
  try {
    atom = parseFhirPath(raw.path);
    // Catches unknown functions, which parse fine and fail only when evaluated.
    evalFhirPathTyped(atom, [toTypedValue({ resourceType })]);
  } catch (err) {
    problems.push({
      text: `${y.where([...at, 'path'])}: ${label}.path is not a valid FHIRPath expression ("${raw.path}"): ${(err as Error).message.replace(/^FhirPathError on "[^"]*": /, '')}`,
    });
    return undefined;
  }
  let map: CompiledField['map'];
  if (raw.map !== undefined) {
    if (!isRecord(raw.map) || Object.values(raw.map).some((v) => typeof v === 'object')) {
      problems.push({ text: `${y.where([...at, 'map'])}: ${label}.map must map source codes to values` });
    } else {
      map = raw.map as CompiledField['map'];
      if (spec.values) {
        // A typo in a target value would silently become `other`: refused with the file and line.
        for (const [code, value] of Object.entries(map ?? {})) {
          if (!spec.values.includes(String(value)))
            problems.push({
              text: `${y.where([...at, 'map', code])}: ${label}.map.${code}: "${String(value)}" is not a value of ${label} (one of: ${spec.values.join(', ')})`,
            });
        }
      }
    }
  }
  if (spec.values && raw.default !== undefined && !spec.values.includes(String(raw.default))) {
    problems.push({
      text: `${y.where([...at, 'default'])}: ${label}.default: "${String(raw.default)}" is not a value of ${label} (one of: ${spec.values.join(', ')})`,
    });
  }
  if (raw.default !== undefined && typeof raw.default === 'object') {
    problems.push({ text: `${y.where([...at, 'default'])}: ${label}.default must be a single value` });
  }
  return {
    name,
    expression: raw.path,
    atom,
    kind: spec.kind,
    required: spec.required ?? false,
    ...(map ? { map } : {}),
    ...(raw.default !== undefined ? { default: raw.default as string | number | boolean } : {}),
    where,
  };
}

function compileFields(
  y: YamlFile,
  at: YamlPath,
  specs: Record<string, FieldSpec>,
  raw: unknown,
  resourceType: string,
  problems: Problem[],
): Map<string, CompiledField> {
  const out = new Map<string, CompiledField>();
  if (raw === undefined) return out;
  if (!isRecord(raw)) {
    problems.push({ text: `${y.where(at)}: ${at.join('.')} must be a mapping of field names` });
    return out;
  }
  for (const [name, value] of Object.entries(raw)) {
    const spec = specs[name];
    if (!spec) {
      problems.push({
        text: `${y.where([...at, name])}: ${[...at, name].join('.')} is not a field of the ${resourceType} model (known: ${Object.keys(specs).join(', ')})`,
      });
      continue;
    }
    const field = compileField(y, [...at, name], name, spec, value, resourceType, problems);
    if (field) out.set(name, field);
  }
  return out;
}

interface PartialMapping {
  fields: Map<string, CompiledField>;
  lists: Map<string, { expression?: string; atom?: FhirPathAtom; where: string; fields: Map<string, CompiledField> }>;
}

function compileFile(y: YamlFile, resourceType: string, problems: Problem[]): PartialMapping {
  const result: PartialMapping = { fields: new Map(), lists: new Map() };
  const data = y.data;
  if (!isRecord(data)) {
    problems.push({ text: `${y.file}: must be a mapping with resourceType and fields` });
    return result;
  }
  for (const key of Object.keys(data)) {
    if (!TOP_KEYS.has(key))
      problems.push({ text: `${y.where([key])}: ${key} is not a known key (expected: ${[...TOP_KEYS].join(', ')})` });
  }
  if (data.resourceType !== resourceType) {
    problems.push({
      text: `${y.where(['resourceType'])}: resourceType must be ${resourceType} (the file name says so)`,
    });
  }
  const spec = MAPPED_TYPES[resourceType]!;
  result.fields = compileFields(y, ['fields'], spec.fields, data.fields, resourceType, problems);
  if (data.lists !== undefined) {
    if (!isRecord(data.lists)) {
      problems.push({ text: `${y.where(['lists'])}: lists must be a mapping` });
    } else {
      for (const [name, raw] of Object.entries(data.lists)) {
        const listSpec = spec.lists?.[name];
        if (!listSpec) {
          problems.push({
            text: `${y.where(['lists', name])}: lists.${name} is not a list of the ${resourceType} model (known: ${Object.keys(spec.lists ?? {}).join(', ') || 'none'})`,
          });
          continue;
        }
        if (!isRecord(raw)) {
          problems.push({ text: `${y.where(['lists', name])}: lists.${name} must have path and fields` });
          continue;
        }
        let atom: FhirPathAtom | undefined;
        if (raw.path !== undefined) {
          try {
            atom = parseFhirPath(String(raw.path));
            evalFhirPathTyped(atom, [toTypedValue({ resourceType })]);
          } catch (err) {
            problems.push({
              text: `${y.where(['lists', name, 'path'])}: lists.${name}.path is not a valid FHIRPath expression: ${(err as Error).message}`,
            });
          }
        }
        // Fields of a list item are evaluated on the item, not the resource: try them on an empty object.
        const fields = compileFields(y, ['lists', name, 'fields'], listSpec.fields, raw.fields, resourceType, problems);
        result.lists.set(name, {
          ...(raw.path !== undefined ? { expression: String(raw.path), atom } : {}),
          where: y.where(['lists', name]),
          fields,
        });
      }
    }
  }
  return result;
}

function typesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .map((f) => f.replace(/\.ya?ml$/, ''));
}

/**
 * The mappings for a source: defaults from `dir`, each field replaced by the
 * source's override when it names it. Throws one error listing every problem.
 */
export function loadMappings(options: { dir?: string; sourceId?: string; overridesDir?: string } = {}): MappingSet {
  ensureTypesIndexed(Object.keys(MAPPED_TYPES));
  const dir = options.dir ?? MAPPINGS_DIR;
  const problems: Problem[] = [];
  const set: MappingSet = {};
  // A team's overrides may live outside the install (mappingsDir / FHIR_ENGAGE_MAPPINGS), so that upgrades keep them.
  const overrideDir = options.sourceId
    ? path.join(options.overridesDir ?? dir, 'sources', options.sourceId)
    : undefined;
  const fileOf = (base: string, type: string): string | undefined =>
    ['yaml', 'yml'].map((ext) => path.join(base, `${type}.${ext}`)).find((f) => existsSync(f));
  for (const type of new Set([...typesIn(dir), ...(overrideDir ? typesIn(overrideDir) : [])])) {
    if (!MAPPED_TYPES[type]) {
      // Named by the file that declares it: an override names its own file, not the defaults folder.
      for (const base of [dir, overrideDir]) {
        const file = base ? fileOf(base, type) : undefined;
        if (file)
          problems.push({
            text: `${file}: ${type} is not a mapped resource type (known: ${Object.keys(MAPPED_TYPES).join(', ')})`,
          });
      }
      continue;
    }
    const files: string[] = [];
    const merged: PartialMapping = { fields: new Map(), lists: new Map() };
    for (const base of [dir, overrideDir]) {
      if (!base) continue;
      const file = fileOf(base, type);
      if (!file) continue;
      files.push(file);
      const partial = compileFile(readYamlFile(file), type, problems);
      for (const [k, v] of partial.fields) merged.fields.set(k, v);
      for (const [k, v] of partial.lists) {
        const prev = merged.lists.get(k);
        merged.lists.set(k, {
          expression: v.expression ?? prev?.expression,
          atom: v.atom ?? prev?.atom,
          where: v.where,
          fields: new Map([...(prev?.fields ?? []), ...v.fields]),
        });
      }
    }
    const spec = MAPPED_TYPES[type]!;
    for (const [name, f] of Object.entries(spec.fields)) {
      if (f.required && !merged.fields.has(name))
        problems.push({ text: `${files.join(', ')}: fields.${name} is required for ${type} and no file maps it` });
    }
    const lists: CompiledList[] = [];
    for (const [name, l] of merged.lists) {
      if (!l.atom || !l.expression) {
        problems.push({ text: `${l.where}: lists.${name}.path is required` });
        continue;
      }
      lists.push({ name, expression: l.expression, atom: l.atom, where: l.where, fields: [...l.fields.values()] });
    }
    set[type] = { resourceType: type, fields: [...merged.fields.values()], lists, files };
  }
  if (problems.length > 0) throw configErrors(problems);
  return set;
}
