/**
 * Evaluates a compiled mapping on one resource. Pure: the same resource and
 * mapping always give the same record. A field whose expression fails, or a
 * required field with no value, makes the resource fail with the field and
 * the expression named (it is dead-lettered by the caller).
 */
import { evalFhirPathTyped, toTypedValue, type TypedValue } from '@medplum/core';
import { ensureTypesIndexed, typesIn } from '../validation/definitions';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { patientIdFromReference } from './patient-of';
import type { CompiledField, CompiledMapping } from './load';

export type FieldValue = string | number | boolean;
export type MappedRecord = Record<string, FieldValue | undefined> & {
  lists?: Record<string, Record<string, FieldValue | undefined>[]>;
  /** Fields whose element was present without a value (only extensions), with the data-absent-reason code or "absent". */
  absent?: Record<string, string>;
};

/** http://hl7.org/fhir/R4/extension-data-absent-reason.html */
export const DATA_ABSENT_REASON = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';

/**
 * A primitive element present with extensions only (`"_gender": { "extension": [...] }`
 * and no `gender`), which FHIR allows for every primitive: FHIRPath hands
 * it over as an object where a value would be. It is an absent value, never
 * an error. Primitive type names are the lower-case ones.
 */
function absentReason(tv: TypedValue): string | undefined {
  if (!/^[a-z]/.test(tv.type) || tv.value === null || typeof tv.value !== 'object') return undefined;
  const ext = (tv.value as { extension?: { url?: string; valueCode?: string }[] }).extension ?? [];
  return ext.find((e) => e.url === DATA_ABSENT_REASON)?.valueCode ?? 'absent';
}

export interface FieldFailure {
  field: string;
  expression: string;
  text: string;
}

export type MapResult = { ok: true; record: MappedRecord } | { ok: false; failures: FieldFailure[] };

function toInstant(v: string): string | undefined {
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

function convert(field: CompiledField, tv: TypedValue | undefined): { value?: FieldValue; error?: string } {
  if (!tv || tv.value === undefined || tv.value === null) return {};
  const raw = tv.value as unknown;
  switch (field.kind) {
    case 'reference-id': {
      const ref = typeof raw === 'string' ? raw : (raw as { reference?: string }).reference;
      const id = patientIdFromReference(ref);
      return id ? { value: id } : { error: 'does not name a Patient reference (Patient/<id>)' };
    }
    case 'instant': {
      if (typeof raw !== 'string') return { error: `returned a ${tv.type}, expected a date or instant` };
      const iso = toInstant(raw);
      return iso ? { value: iso } : { error: 'is not a date or instant' };
    }
    case 'year': {
      const m = typeof raw === 'string' ? /^(\d{4})/.exec(raw) : undefined;
      return m ? { value: Number(m[1]) } : { error: 'is not a date' };
    }
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : NaN;
      return Number.isFinite(n) ? { value: n } : { error: `returned a ${tv.type}, expected a number` };
    }
    case 'boolean':
      if (typeof raw === 'boolean') return { value: raw };
      if (raw === 'true' || raw === 'false') return { value: raw === 'true' };
      return { error: `returned a ${tv.type}, expected a boolean` };
    case 'string':
      if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') return { value: raw };
      return { error: `returned a ${tv.type}, expected a string (select .code, .text or .display)` };
  }
}

function evaluateField(
  field: CompiledField,
  input: TypedValue[],
): { value?: FieldValue; failure?: FieldFailure; absent?: string } {
  let results: TypedValue[];
  try {
    results = evalFhirPathTyped(field.atom, input);
  } catch (err) {
    return {
      failure: {
        field: field.name,
        expression: field.expression,
        text: (err as Error).message.replace(/^FhirPathError on "[^"]*": /, ''),
      },
    };
  }
  // The first real value wins (`authored | meta.lastUpdated` goes on past an absent authored).
  const present = results.find((r) => absentReason(r) === undefined);
  const absent = present ? undefined : results.map(absentReason).find((r) => r !== undefined);
  const converted = convert(field, present);
  if (converted.error) return { failure: { field: field.name, expression: field.expression, text: converted.error } };
  let value = converted.value;
  if (field.map && value !== undefined) {
    const mapped = field.map[String(value)];
    value = mapped !== undefined ? mapped : field.default;
  }
  if (value === undefined) value = field.default;
  if (value === undefined && field.required) {
    return {
      failure: {
        field: field.name,
        expression: field.expression,
        text: absent
          ? `has no value (data absent: ${absent}), and the field is required`
          : 'found no value, and the field is required',
      },
    };
  }
  return { value, ...(absent ? { absent } : {}) };
}

function evaluateFields(
  fields: CompiledField[],
  input: TypedValue[],
  failures: FieldFailure[],
  prefix = '',
  skip?: ReadonlySet<string>,
): MappedRecord {
  const record: MappedRecord = {};
  for (const f of fields) {
    if (skip?.has(f.name)) continue;
    const { value, failure, absent } = evaluateField(f, input);
    if (failure) failures.push({ ...failure, field: `${prefix}${failure.field}` });
    else if (value !== undefined) record[f.name] = value;
    if (absent) (record.absent ??= {})[f.name] = absent;
  }
  return record;
}

/** Maps one resource; `skip` leaves fields out (e.g. `patient`, when the caller has already attached the resource). */
export function mapResource(
  mapping: CompiledMapping,
  resource: Resource,
  options: { skip?: ReadonlySet<string> } = {},
): MapResult {
  // FHIRPath types its results by the definitions: those of a contained resource's type too.
  ensureTypesIndexed(typesIn(resource));
  const input = [toTypedValue(resource)];
  const failures: FieldFailure[] = [];
  const record: MappedRecord = evaluateFields(mapping.fields, input, failures, '', options.skip);
  for (const list of mapping.lists) {
    let items: TypedValue[];
    try {
      items = evalFhirPathTyped(list.atom, input);
    } catch (err) {
      failures.push({ field: `lists.${list.name}`, expression: list.expression, text: (err as Error).message });
      continue;
    }
    record.lists ??= {};
    record.lists[list.name] = items.map((item, i) => {
      const { absent: _absent, ...fields } = evaluateFields(list.fields, [item], failures, `lists.${list.name}[${i}].`);
      return fields as Record<string, FieldValue | undefined>;
    });
  }
  return failures.length > 0 ? { ok: false, failures } : { ok: true, record };
}

/** The OperationOutcome of a failed mapping, for the dead-letter table. */
export function mappingOutcome(
  resourceType: string,
  failures: FieldFailure[],
  mapping: CompiledMapping,
): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: failures.map((f) => ({
      severity: 'error',
      code: 'processing',
      details: { text: `mapping field ${f.field} (${f.expression}) ${f.text} [${mapping.files.join(', ')}]` },
      expression: [`${resourceType}`],
      diagnostics: f.expression,
    })),
  };
}
