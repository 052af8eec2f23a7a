/**
 * One search page (or one batch of Bulk Data lines) sorted into what to store and what to
 * dead-letter: OperationOutcomes counted, resources without an id or invalid kept as dead letters,
 * versions already stored skipped before validation, every other resource attributed to its patient.
 * Pure apart from validation.
 */
import type { BundleEntry, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import { badRequest } from '../errors';
import { patientDeadLetter, patientOfWithMappings } from '../mapping/patient-of';
import type { PatientRefContext } from '../mapping/patient-ref';
import type { DeadLetterInput, ResourceInput } from '../store/types';
import { later, type PullContext } from './pull-context';

export interface ClassifiedPage {
  store: ResourceInput[];
  dead: DeadLetterInput[];
  included: number;
  outcomes: number;
  warnings: number;
  received: number;
  skipped: number;
  maxLastUpdated?: string;
  questionnaires: string[];
}

type ClassifyContext = Pick<PullContext, 'source' | 'runId' | 'validator' | 'patientOf'>;

const standardPatientOf = patientOfWithMappings({});

/** Whether this version of the resource is the one stored (`seen`: `versionId|lastUpdated` by id). */
export function isStoredVersion(
  resource: { id?: string; meta?: { versionId?: string; lastUpdated?: string } },
  seen: ReadonlyMap<string, string> | undefined,
): boolean {
  const meta = resource.meta;
  return !!(
    seen &&
    resource.id &&
    meta?.versionId &&
    meta.lastUpdated &&
    seen.get(resource.id) === `${meta.versionId}|${new Date(meta.lastUpdated).toISOString()}`
  );
}

/** Processes one search page into what to store and what to dead-letter. Pure apart from validation. */
export function classifyEntries(
  entries: BundleEntry[],
  resourceType: string,
  ctx: ClassifyContext,
  refs: PatientRefContext = {},
  /** `versionId|lastUpdated` already stored, by id: the same version again is skipped before validation. */
  seen?: ReadonlyMap<string, string>,
): ClassifiedPage {
  // urn:uuid references inside this Bundle name its entries by fullUrl.
  const fullUrls = new Map<string, string>();
  for (const e of entries)
    if (e.fullUrl && e.resource?.id) fullUrls.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
  const page: ClassifiedPage = {
    store: [],
    dead: [],
    included: 0,
    outcomes: 0,
    warnings: 0,
    received: 0,
    skipped: 0,
    maxLastUpdated: undefined,
    questionnaires: [],
  };
  for (const entry of entries) classifyEntry(page, entry, resourceType, ctx, { ...refs, fullUrls }, seen);
  return page;
}

function classifyEntry(
  page: ClassifiedPage,
  entry: BundleEntry,
  resourceType: string,
  ctx: ClassifyContext,
  refs: PatientRefContext,
  seen: ReadonlyMap<string, string> | undefined,
): void {
  const resource = entry.resource;
  if (!resource) return;
  if (resource.resourceType === 'OperationOutcome' || entry.search?.mode === 'outcome') {
    page.outcomes++;
    const outcome = resource.resourceType === 'OperationOutcome' ? resource : undefined;
    if (outcome?.issue?.some((i) => i.severity === 'error' || i.severity === 'fatal')) {
      page.dead.push({ sourceId: ctx.source.id, runId: ctx.runId, stage: 'pull', resourceType, outcome });
    }
    return;
  }
  const isMatch = entry.search?.mode !== 'include' && resource.resourceType === resourceType;
  if (isMatch) {
    page.received++;
    page.maxLastUpdated = later(page.maxLastUpdated, resource.meta?.lastUpdated);
  } else {
    page.included++;
  }
  if (!resource.id) {
    page.dead.push(
      invalid(ctx, resource, badRequest(`${resource.resourceType}.id is required`, `${resource.resourceType}.id`)),
    );
    return;
  }
  if (isMatch && isStoredVersion(resource, seen)) {
    // The overlap window and resumed pages repeat what is stored: no validation, no storing.
    page.skipped++;
    return;
  }
  const result = ctx.validator.validate(resource);
  if (!result.valid) {
    page.dead.push(invalid(ctx, resource, result.outcome!));
    return;
  }
  if (result.outcome) page.warnings++;
  attribute(page, resource, ctx, refs);
}

function invalid(ctx: ClassifyContext, resource: Resource, outcome: DeadLetterInput['outcome']): DeadLetterInput {
  return {
    sourceId: ctx.source.id,
    runId: ctx.runId,
    stage: 'validate',
    resourceType: resource.resourceType,
    ...(resource.id ? { resourceId: resource.id } : {}),
    payload: resource,
    outcome,
  };
}

/** A valid resource stored under its patient, or kept as a dead letter with the reason (never dropped). */
function attribute(page: ClassifiedPage, resource: Resource, ctx: ClassifyContext, refs: PatientRefContext): void {
  const patient = (ctx.patientOf ?? standardPatientOf)(resource, refs);
  if (patient && 'reason' in patient) {
    page.dead.push(
      patientDeadLetter(
        ctx.source.id,
        ctx.runId,
        resource,
        `no patient: ${patient.reason}; nothing is computed from this ${resource.resourceType}`,
      ),
    );
    return;
  }
  page.store.push({ resource: resource as ResourceInput['resource'], patientId: patient?.id ?? null });
  if (resource.resourceType === 'QuestionnaireResponse') {
    const q = (resource as QuestionnaireResponse).questionnaire;
    if (q) page.questionnaires.push(q);
  }
}
