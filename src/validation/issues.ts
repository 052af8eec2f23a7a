/**
 * ajv's errors as FHIR OperationOutcome issues: each with the FHIRPath of the offending element and
 * a message in words that never quotes the value (it may be PHI); and the values FHIR says must be
 * left out rather than sent empty (data-absent-reason).
 */
import type { ErrorObject } from 'ajv';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';

export type IssueCode = OperationOutcomeIssue['code'];

/** Unknown elements (vendor additions such as meta.author) are reported but do not make a resource unusable. */
const WARNING_KEYWORDS = new Set(['additionalProperties']);

function issueCode(keyword: string): IssueCode {
  switch (keyword) {
    case 'required':
      return 'required';
    case 'additionalProperties':
      return 'structure';
    case 'contains':
      return 'invariant';
    default:
      return 'value';
  }
}

/** `/participant/0/actor` on an Appointment → `Appointment.participant[0].actor`. */
export function toFhirPath(resourceType: string, instancePath: string, extra?: string): string {
  let out = resourceType;
  for (const seg of instancePath.split('/').slice(1)) {
    const s = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(s) ? `[${s}]` : `.${s}`;
  }
  return extra ? `${out}.${extra}` : out;
}

/** Where in the schema an error arose, also for an error inside a nested resource (see resourceKeyword). */
function schemaPathOf(e: ErrorObject): string {
  const nested = (e.params as { fhirSchemaPath?: unknown }).fhirSchemaPath;
  return typeof nested === 'string' ? nested : e.schemaPath;
}

function describe(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  const custom = (e.parentSchema as { errorMessage?: string } | undefined)?.errorMessage;
  if (custom && e.keyword !== 'required') return custom;
  switch (e.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return `unknown element "${String(p.additionalProperty)}" (not in FHIR R4)`;
    case 'enum':
      return `must be one of: ${(p.allowedValues as unknown[]).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(p.allowedValue)}`;
    case 'pattern': {
      const type = /#\/definitions\/([A-Za-z0-9]+)\/pattern$/.exec(schemaPathOf(e))?.[1];
      return type ? `is not a valid FHIR ${type}` : 'has the wrong format';
    }
    case 'type':
      return `must be ${/^[aeiou]/.test(String(p.type)) ? 'an' : 'a'} ${String(p.type)}`;
    default:
      return e.message ?? e.keyword;
  }
}

/**
 * `_questionnaire` next to `questionnaire` carries extensions of a primitive,
 * which FHIR JSON allows for every primitive; the published schema leaves some
 * of them out (canonical elements).
 */
function isPrimitiveExtension(key: string, parentSchema: unknown): boolean {
  if (!key.startsWith('_')) return false;
  const props = (parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props !== undefined && key.slice(1) in props;
}

export function toIssues(resourceType: string, errors: ErrorObject[]): OperationOutcomeIssue[] {
  const byPath = new Map<string, OperationOutcomeIssue>();
  for (const e of errors) {
    // oneOf/anyOf failures only repeat what their branches said.
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf' || e.keyword === 'if') continue;
    // Failures inside a `contains` are its attempts on each item; the `contains` error itself says what is missing.
    if (schemaPathOf(e).includes('/contains/')) continue;
    const p = e.params as Record<string, unknown>;
    if (e.keyword === 'additionalProperties' && isPrimitiveExtension(String(p.additionalProperty), e.parentSchema))
      continue;
    // "status or _status" (a value, or extensions in its place): the missing value is what to report.
    if (e.keyword === 'required' && String(p.missingProperty).startsWith('_')) continue;
    const expression =
      e.keyword === 'required'
        ? toFhirPath(resourceType, e.instancePath, String(p.missingProperty))
        : e.keyword === 'additionalProperties'
          ? toFhirPath(resourceType, e.instancePath, String(p.additionalProperty))
          : toFhirPath(resourceType, e.instancePath);
    if (byPath.has(expression)) continue;
    byPath.set(expression, {
      severity: WARNING_KEYWORDS.has(e.keyword) ? 'warning' : 'error',
      code: issueCode(e.keyword),
      details: { text: `${expression} ${describe(e)}` },
      expression: [expression],
    });
  }
  return [...byPath.values()];
}

const DATA_ABSENT_REASON = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';
/** How deep absent values are looked for (resources nest a few levels: item.item.answer…). */
const ABSENT_SCAN_DEPTH = 8;

/**
 * Primitives present with extensions only (`_gender` with a
 * data-absent-reason and no `gender`): legal FHIR, reported as information
 * so that a reader sees what the EMR withheld, never as an error.
 */
export function absentValueIssues(
  resourceType: string,
  value: unknown,
  at = resourceType,
  depth = 0,
  out: OperationOutcomeIssue[] = [],
): OperationOutcomeIssue[] {
  if (depth > ABSENT_SCAN_DEPTH || value === null || typeof value !== 'object') return out;
  if (Array.isArray(value)) {
    value.forEach((v, i) => absentValueIssues(resourceType, v, `${at}[${i}]`, depth + 1, out));
    return out;
  }
  const obj = value as Record<string, unknown>;
  for (const [key, v] of Object.entries(obj)) {
    if (key.startsWith('_') && key.length > 1 && !(key.slice(1) in obj)) {
      for (const [i, ext] of (Array.isArray(v) ? v : [v]).entries()) {
        const reason = ((ext as { extension?: { url?: string; valueCode?: string }[] } | null)?.extension ?? []).find(
          (e) => e.url === DATA_ABSENT_REASON,
        )?.valueCode;
        if (reason === undefined) continue;
        const where = `${at}.${key.slice(1)}${Array.isArray(v) ? `[${i}]` : ''}`;
        out.push({
          severity: 'information',
          code: 'informational',
          details: { text: `${where} is absent (data-absent-reason: ${reason}); read as unknown` },
          expression: [where],
        });
      }
    } else if (!key.startsWith('_') && key !== 'contained') {
      absentValueIssues(resourceType, v, `${at}.${key}`, depth + 1, out);
    }
  }
  return out;
}
