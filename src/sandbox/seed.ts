/**
 * Fills a sandbox repository: fixtures, generated patients, and optionally
 * resources that break the FHIR schema or the project's profiles (quirk), so
 * that validation and dead letters can be exercised.
 */
import { satisfactionQuestionnaire } from './instruments';
import type { Appointment, Group, Resource } from '@medplum/fhirtypes';
import { generate, DEFAULT_ANCHOR, type GeneratedData } from './generate';
import { loadFixtureResources } from './fixtures';
import type { SandboxRepository } from './repository';

export interface SeedOptions {
  patients: number;
  seed: number;
  anchor?: string;
  /** Load the Synthea and US Core fixtures too (default true). */
  fixtures?: boolean;
  /** Number of invalid Appointments to add (each breaks one rule; see INVALID_VARIANTS). */
  invalidResources?: number;
}

export interface SeedResult {
  loaded: Record<string, number>;
  invalid: { id: string; expression: string }[];
  generated: GeneratedData;
  durationMs: number;
}

/** Each invalid resource breaks exactly one rule, named by the FHIRPath of the offending element. */
export const INVALID_VARIANTS: { expression: string; apply: (a: Record<string, unknown>) => void }[] = [
  { expression: 'Appointment.status', apply: (a) => (a.status = 'maybe-later') },
  { expression: 'Appointment.start', apply: (a) => (a.start = 'next tuesday') },
  { expression: 'Appointment.end', apply: (a) => (a.end = 'half an hour later') },
  { expression: 'Appointment.participant', apply: (a) => delete a.participant },
];

function invalidAppointments(
  count: number,
  anchor: string,
  patientIds: string[],
): { resource: Resource; expression: string }[] {
  const out: { resource: Resource; expression: string }[] = [];
  const anchorMs = Date.parse(anchor);
  for (let i = 0; i < count; i++) {
    const variant = INVALID_VARIANTS[i % INVALID_VARIANTS.length] as (typeof INVALID_VARIANTS)[number];
    const patient = patientIds[i % Math.max(1, patientIds.length)] ?? 'unknown';
    const start = new Date(anchorMs - (i + 2) * 86_400_000).toISOString();
    const appt: Appointment = {
      resourceType: 'Appointment',
      id: `invalid-appt-${String(i + 1).padStart(3, '0')}`,
      meta: {
        versionId: '1',
        lastUpdated: new Date(anchorMs - (i + 1) * 3_600_000).toISOString(),
        tag: [{ system: 'urn:fhir-engage:sandbox', code: 'sandbox-invalid' }],
      },
      status: 'fulfilled',
      start,
      end: new Date(Date.parse(start) + 1_800_000).toISOString(),
      participant: [{ actor: { reference: `Patient/${patient}` }, status: 'accepted' }],
    };
    variant.apply(appt as unknown as Record<string, unknown>);
    out.push({ resource: appt, expression: variant.expression });
  }
  return out;
}

/** Id of the Group of every generated patient. */
/** The sandbox's population when no --patients is given: one for `sandbox`, `sandbox simulate` and `start`. */
export const DEFAULT_SANDBOX_PATIENTS = 100;
export const COHORT_GROUP_ID = 'engagement-cohort';
/** Id of a smaller Group (every third generated patient): a referral list a programme can enrol by. */
export const REFERRAL_GROUP_ID = 'diabetes-referrals';

export async function seedRepository(repo: SandboxRepository, options: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const anchor = options.anchor ?? DEFAULT_ANCHOR;
  const generated = generate({ patients: options.patients, seed: options.seed, anchor });
  const resources: Resource[] = [];
  if (options.fixtures ?? true) {
    // Fixtures without a lastUpdated get one a year before the anchor, so incremental pulls see them once.
    const fallback = new Date(Date.parse(anchor) - 365 * 86_400_000).toISOString();
    for (const r of loadFixtureResources()) {
      resources.push({
        ...r,
        meta: { ...r.meta, versionId: r.meta?.versionId ?? '1', lastUpdated: r.meta?.lastUpdated ?? fallback },
      } as Resource);
    }
  }
  const patientIds = generated.truth.map((t) => t.id);
  const invalid = invalidAppointments(options.invalidResources ?? 0, anchor, patientIds);
  // The example post-visit survey fhir-engage assigns after kept visits (docs/programme.md).
  const survey = satisfactionQuestionnaire(new Date(Date.parse(anchor) - 365 * 86_400_000).toISOString());
  // The programme's cohort, for group-level Bulk Data exports (as Epic and Oracle Health registrations name a Group).
  const cohort: Group = {
    resourceType: 'Group',
    id: COHORT_GROUP_ID,
    meta: { versionId: '1', lastUpdated: new Date(Date.parse(anchor) - 365 * 86_400_000).toISOString() },
    type: 'person',
    actual: true,
    name: 'Engagement programme cohort (generated patients)',
    member: patientIds.map((id) => ({ entity: { reference: `Patient/${id}` } })),
  };
  const referrals: Group = {
    ...cohort,
    id: REFERRAL_GROUP_ID,
    name: 'Diabetes programme referrals (every third generated patient)',
    member: patientIds.filter((_id, i) => i % 3 === 0).map((id) => ({ entity: { reference: `Patient/${id}` } })),
  };
  const all = [resources, [survey, cohort, referrals], generated.resources, invalid.map((i) => i.resource)].flat();
  const loaded: Record<string, number> = {};
  for (const r of all) {
    loaded[r.resourceType] = (loaded[r.resourceType] ?? 0) + 1;
  }
  await repo.createMany(all);
  return {
    loaded,
    invalid: invalid.map((i) => ({ id: i.resource.id as string, expression: i.expression })),
    generated,
    durationMs: performance.now() - started,
  };
}
