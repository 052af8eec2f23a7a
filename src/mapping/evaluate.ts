/**
 * Evaluates a compiled mapping on one resource. Pure: the same resource and
 * mapping always give the same record. A field whose expression fails, or a
 * required field with no value, makes the resource fail with the field and
 * the expression named (it is dead-lettered by the caller).
 */
import { evalFhirPathTyped, toTypedValue, type TypedValue } from '@medplum/core';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { patientIdFromReference } from './patient-of';
import type { CompiledField, CompiledMapping } from './load';

export type FieldValue = string | number | boolean;
export type MappedRecord = Record<string, FieldValue | undefined> & { lists?: Record<string, Record<string, FieldValue | undefined>[]> };

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

function evaluateField(field: CompiledField, input: TypedValue[]): { value?: FieldValue; failure?: FieldFailure } {
  let results: TypedValue[];
  try {
    results = evalFhirPathTyped(field.atom, input);
  } catch (err) {
    return { failure: { field: field.name, expression: field.expression, text: (err as Error).message.replace(/^FhirPathError on "[^"]*": /, '') } };
  }
  const converted = convert(field, results[0]);
  if (converted.error) return { failure: { field: field.name, expression: field.expression, text: converted.error } };
  let value = converted.value;
  if (field.map && value !== undefined) {
    const mapped = field.map[String(value)];
    value = mapped !== undefined ? mapped : field.default;
  }
  if (value === undefined) value = field.default;
  if (value === undefined && field.required) {
    return { failure: { field: field.name, expression: field.expression, text: 'found no value, and the field is required' } };
  }
  return { value };
}

function evaluateFields(fields: CompiledField[], input: TypedValue[], failures: FieldFailure[], prefix = ''): Record<string, FieldValue | undefined> {
  const record: Record<string, FieldValue | undefined> = {};
  for (const f of fields) {
    const { value, failure } = evaluateField(f, input);
    if (failure) failures.push({ ...failure, field: `${prefix}${failure.field}` });
    else if (value !== undefined) record[f.name] = value;
  }
  return record;
}

/** Maps one resource. */
export function mapResource(mapping: CompiledMapping, resource: Resource): MapResult {
  const input = [toTypedValue(resource)];
  const failures: FieldFailure[] = [];
  const record: MappedRecord = evaluateFields(mapping.fields, input, failures);
  for (const list of mapping.lists) {
    let items: TypedValue[];
    try {
      items = evalFhirPathTyped(list.atom, input);
    } catch (err) {
      failures.push({ field: `lists.${list.name}`, expression: list.expression, text: (err as Error).message });
      continue;
    }
    record.lists ??= {};
    record.lists[list.name] = items.map((item, i) => evaluateFields(list.fields, [item], failures, `lists.${list.name}[${i}].`));
  }
  return failures.length > 0 ? { ok: false, failures } : { ok: true, record };
}

/** The OperationOutcome of a failed mapping, for the dead-letter table. */
export function mappingOutcome(resourceType: string, failures: FieldFailure[], mapping: CompiledMapping): OperationOutcome {
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
