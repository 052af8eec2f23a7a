/**
 * Seeded, deterministic generator of a care-management population over about
 * twelve months before `anchor`: Patients, Practitioners, Appointments,
 * CarePlans with activities, PHQ-9 and GAD-7 Questionnaires and responses.
 * Same options → byte-identical output (no clock, no Math.random).
 *
 * Patients follow one of three engagement profiles and one of three symptom
 * trajectories, so indicators have something real to find.
 */
import type {
  Appointment,
  CarePlan,
  CarePlanActivity,
  Patient,
  Practitioner,
  QuestionnaireResponse,
  Resource,
} from '@medplum/fhirtypes';
import { Random } from './random';
import { GAD7, PHQ9, questionnaireFor } from './instruments';
import { ACTIVITIES, clamp, FAMILY, GIVEN_F, GIVEN_M, responseItems, SERVICES } from './synthetic';

export type EngagementProfile = 'engaged' | 'at-risk' | 'disengaged';
export type Trajectory = 'improving' | 'worsening' | 'flat';

export interface GenerateOptions {
  patients: number;
  seed: number;
  /** End of the generated year (ISO instant); no meta.lastUpdated is later. Default 2026-11-01T00:00:00Z. */
  anchor?: string;
  /** Prefix of generated ids, so several sets can share a server. Default "gen". */
  idPrefix?: string;
}

export interface GeneratedPatientTruth {
  id: string;
  profile: EngagementProfile;
  trajectory?: Trajectory;
}

export interface GeneratedData {
  resources: Resource[];
  /** What the generator intended for each patient (for tests and reports, not served). */
  truth: GeneratedPatientTruth[];
}

export const DEFAULT_ANCHOR = '2026-11-01T00:00:00.000Z';
const DAY_MS = 86_400_000;

const PROFILE_WEIGHTS: Record<EngagementProfile, number> = { engaged: 55, 'at-risk': 25, disengaged: 20 };
/** Appointment outcome odds per profile (fulfilled / noshow / cancelled). */
const OUTCOME_WEIGHTS: Record<EngagementProfile, Record<'fulfilled' | 'noshow' | 'cancelled', number>> = {
  engaged: { fulfilled: 90, noshow: 3, cancelled: 7 },
  'at-risk': { fulfilled: 62, noshow: 22, cancelled: 16 },
  disengaged: { fulfilled: 30, noshow: 45, cancelled: 25 },
};

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const iso = (ms: number): string => new Date(ms).toISOString();

interface Context {
  rng: Random;
  anchorMs: number;
  startMs: number;
  prefix: string;
  practitioners: Practitioner[];
}

function makePatient(ctx: Context, n: number): Patient {
  return syntheticPatient(
    ctx.rng,
    `${ctx.prefix}-pat-${pad(n, 6)}`,
    n,
    ctx.anchorMs,
    (rng) => ctx.startMs + rng.int(0, 30) * DAY_MS + rng.int(0, 86_399) * 1000,
  );
}

/**
 * A synthetic adult patient (name, MRN from `n`, contact details, language): the generator's, and the
 * simulator's newly arrived patients'. `lastUpdated` draws the record's time from the same stream.
 */
export function syntheticPatient(
  rng: Random,
  id: string,
  n: number,
  anchorMs: number,
  lastUpdated: (rng: Random) => number,
): Patient {
  const female = rng.chance(0.55);
  const given = rng.pick(female ? GIVEN_F : GIVEN_M);
  const family = rng.pick(FAMILY);
  const age = rng.int(19, 84);
  const birth = new Date(anchorMs - age * 365.25 * DAY_MS - rng.int(0, 364) * DAY_MS);
  return {
    resourceType: 'Patient',
    id,
    meta: { versionId: '1', lastUpdated: iso(lastUpdated(rng)) },
    identifier: [{ use: 'usual', system: 'urn:oid:2.16.840.1.113883.19.5.99999.1', value: `MRN${pad(n, 8)}` }],
    active: true,
    name: [{ use: 'official', family, given: [given] }],
    ...contactDetails(n),
    gender: female ? 'female' : 'male',
    birthDate: birth.toISOString().slice(0, 10),
  };
}

/**
 * How a generated patient can be reached, and in which language: most by a
 * mobile phone, some only by a landline or email, a few not at all (they
 * get no reminders). Drawn from a stream of its own, so that the rest of the
 * generated data does not depend on it.
 */
function contactDetails(n: number): Pick<Patient, 'telecom' | 'communication'> {
  const rng = new Random(n * 7919 + 17);
  const phone = `555-01${pad(n % 100, 2)}`;
  const email = `patient${pad(n, 6)}@example.org`;
  const kind = rng.weighted({ mobile: 75, landlineEmail: 10, email: 7, none: 8 });
  const telecom: NonNullable<Patient['telecom']> =
    kind === 'mobile'
      ? [{ system: 'phone', value: phone, use: 'mobile' }]
      : kind === 'landlineEmail'
        ? [
            { system: 'phone', value: phone, use: 'home', rank: 2 },
            { system: 'email', value: email, rank: 1 },
          ]
        : kind === 'email'
          ? [{ system: 'email', value: email }]
          : [];
  const language = rng.weighted({ en: 80, es: 15, vi: 5 });
  return {
    ...(telecom.length ? { telecom } : {}),
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: language }] }, preferred: true }],
  };
}

function makeAppointments(ctx: Context, patient: Patient, profile: EngagementProfile): Appointment[] {
  const { rng } = ctx;
  const out: Appointment[] = [];
  const practitioner = rng.pick(ctx.practitioners);
  const patientName = `${patient.name?.[0]?.given?.[0]} ${patient.name?.[0]?.family}`;
  let t = ctx.startMs + rng.int(7, 40) * DAY_MS;
  let k = 0;
  // Disengaged patients drift away: later appointments get sparser.
  while (t < ctx.anchorMs + 45 * DAY_MS) {
    k++;
    const start = Math.floor(t / (15 * 60_000)) * 15 * 60_000 + 9 * 3_600_000;
    const past = start + 60 * 60_000 <= ctx.anchorMs;
    const late = (t - ctx.startMs) / (ctx.anchorMs - ctx.startMs);
    const outcome = past
      ? rng.weighted(
          profile === 'disengaged' && late > 0.5
            ? { fulfilled: 15, noshow: 55, cancelled: 30 }
            : OUTCOME_WEIGHTS[profile],
        )
      : 'booked';
    const bookedAt = start - rng.int(7, 30) * DAY_MS;
    const lastUpdated =
      outcome === 'booked'
        ? Math.min(bookedAt, ctx.anchorMs - 3_600_000)
        : outcome === 'cancelled'
          ? start - rng.int(1, 3) * DAY_MS
          : start + rng.int(1, 8) * 3_600_000;
    const appt: Appointment = {
      resourceType: 'Appointment',
      id: `${patient.id}-appt-${pad(k, 3)}`,
      meta: { versionId: outcome === 'booked' ? '1' : '2', lastUpdated: iso(Math.min(lastUpdated, ctx.anchorMs)) },
      status: outcome,
      serviceType: [{ coding: [rng.pick(SERVICES)] }],
      description: 'Care-management follow-up',
      start: iso(start),
      end: iso(start + 30 * 60_000),
      minutesDuration: 30,
      created: iso(Math.max(ctx.startMs, bookedAt)),
      participant: [
        {
          actor: { reference: `Patient/${patient.id}`, display: patientName },
          required: 'required',
          status: 'accepted',
        },
        {
          actor: { reference: `Practitioner/${practitioner.id}`, display: practitioner.name?.[0]?.text },
          required: 'required',
          status: 'accepted',
        },
      ],
    };
    if (outcome === 'cancelled') {
      appt.cancelationReason = {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason',
            code: rng.pick(['pat', 'pat-cpp', 'prov', 'other']),
          },
        ],
      };
    }
    out.push(appt);
    const gapDays =
      profile === 'engaged'
        ? rng.int(21, 35)
        : profile === 'at-risk'
          ? rng.int(25, 45)
          : rng.int(30, 60) + (late > 0.5 ? 30 : 0);
    t += gapDays * DAY_MS;
  }
  return out;
}

function makeCarePlan(ctx: Context, patient: Patient, profile: EngagementProfile): CarePlan {
  const { rng } = ctx;
  const planStart = ctx.startMs + rng.int(0, 60) * DAY_MS;
  const activityCount = rng.int(3, 6);
  const completeOdds = profile === 'engaged' ? 0.85 : profile === 'at-risk' ? 0.55 : 0.25;
  const activities: CarePlanActivity[] = [];
  let latest = planStart;
  for (let i = 0; i < activityCount; i++) {
    const due = planStart + rng.int(20, 400) * DAY_MS;
    const begin = due - rng.int(14, 60) * DAY_MS;
    let status: NonNullable<CarePlanActivity['detail']>['status'];
    let changedAt = begin;
    if (due < ctx.anchorMs) {
      const r = rng.next();
      if (r < completeOdds) {
        status = 'completed';
        changedAt = due - rng.int(0, 10) * DAY_MS;
      } else if (r < completeOdds + 0.05) {
        status = 'cancelled';
        changedAt = due - rng.int(1, 20) * DAY_MS;
      } else {
        // Past due and not done: overdue as far as the care team is concerned.
        status = rng.chance(0.5) ? 'in-progress' : 'scheduled';
      }
    } else {
      status = begin < ctx.anchorMs ? rng.pick(['in-progress', 'scheduled'] as const) : 'not-started';
    }
    latest = Math.max(latest, Math.min(changedAt, ctx.anchorMs));
    activities.push({
      detail: {
        kind: 'Task',
        code: { text: rng.pick(ACTIVITIES) },
        status,
        scheduledPeriod: { start: iso(begin), end: iso(due) },
        description: 'Agreed with the care manager',
      },
    });
  }
  return {
    resourceType: 'CarePlan',
    id: `${patient.id}-cp-1`,
    meta: { versionId: '1', lastUpdated: iso(Math.min(latest, ctx.anchorMs)) },
    status: 'active',
    intent: 'plan',
    category: [
      { coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/careplan-category', code: 'assess-plan' }] },
    ],
    title: 'Behavioural health care plan',
    subject: { reference: `Patient/${patient.id}` },
    period: { start: iso(planStart) },
    activity: activities,
  };
}

function makeResponses(
  ctx: Context,
  patient: Patient,
  profile: EngagementProfile,
  trajectory: Trajectory,
): QuestionnaireResponse[] {
  const { rng } = ctx;
  const out: QuestionnaireResponse[] = [];
  const baseline = trajectory === 'worsening' ? rng.int(5, 12) : rng.int(10, 22);
  const change =
    trajectory === 'improving'
      ? -rng.int(Math.ceil(baseline * 0.4), baseline - 1)
      : trajectory === 'worsening'
        ? rng.int(5, 12)
        : rng.int(-2, 2);
  const anxietyShift = rng.int(-4, 2);
  const stopAfter = profile === 'disengaged' ? ctx.startMs + rng.int(90, 200) * DAY_MS : Number.POSITIVE_INFINITY;
  let t = ctx.startMs + rng.int(10, 40) * DAY_MS;
  let k = 0;
  while (t < ctx.anchorMs && t < stopAfter) {
    const progress = (t - ctx.startMs) / (ctx.anchorMs - ctx.startMs);
    const answered = profile === 'engaged' ? 0.95 : profile === 'at-risk' ? 0.7 : 0.5;
    if (rng.chance(answered)) {
      const phqTotal = clamp(Math.round(baseline + change * progress + rng.int(-2, 2)), 0, 27);
      const selfHarm = phqTotal >= 15 && rng.chance(0.25) ? rng.int(1, 2) : phqTotal >= 10 && rng.chance(0.05) ? 1 : 0;
      const incomplete = rng.chance(0.03);
      for (const def of [PHQ9, GAD7] as const) {
        k++;
        const total =
          def === PHQ9 ? phqTotal : clamp(Math.round(phqTotal * 0.75) + anxietyShift + rng.int(-1, 1), 0, 21);
        const authored = t + (def === PHQ9 ? 0 : 4 * 60_000) + rng.int(0, 3_600) * 1000;
        out.push({
          resourceType: 'QuestionnaireResponse',
          id: `${patient.id}-qr-${pad(k, 3)}`,
          meta: { versionId: '1', lastUpdated: iso(Math.min(authored + rng.int(1, 120) * 1000, ctx.anchorMs)) },
          questionnaire: def.url,
          status: incomplete ? 'in-progress' : 'completed',
          subject: { reference: `Patient/${patient.id}` },
          authored: iso(authored),
          item: responseItems(rng, def, total, {
            selfHarm,
            includeTotal: rng.chance(0.6),
            missing: incomplete ? rng.int(1, 3) : 0,
          }),
        });
      }
    }
    t += (profile === 'engaged' ? rng.int(24, 35) : rng.int(28, 56)) * DAY_MS;
  }
  return out;
}

function makePractitioners(ctx: Context): Practitioner[] {
  const names = [
    'Dr Imogen Hartley',
    'Dr Rafael Okafor',
    'Nurse Mira Solberg',
    'Dr Leon Castaigne',
    'Care Manager Tessa Brandt',
  ];
  return names.map((text, i) => ({
    resourceType: 'Practitioner',
    id: `${ctx.prefix}-prac-${pad(i + 1, 2)}`,
    meta: { versionId: '1', lastUpdated: iso(ctx.startMs) },
    active: true,
    name: [{ text, family: text.split(' ').pop(), given: [text.split(' ')[text.split(' ').length - 2] as string] }],
  }));
}

/** Generates the population. Output order is fixed: practitioners, questionnaires, then each patient's resources. */
export function generate(options: GenerateOptions): GeneratedData {
  if (!Number.isInteger(options.patients) || options.patients < 0) {
    throw new RangeError('patients must be a whole number ≥ 0');
  }
  const anchorMs = Date.parse(options.anchor ?? DEFAULT_ANCHOR);
  if (Number.isNaN(anchorMs)) {
    throw new RangeError(`anchor is not an instant: ${options.anchor}`);
  }
  const ctx: Context = {
    rng: new Random(options.seed),
    anchorMs,
    startMs: anchorMs - 365 * DAY_MS,
    prefix: options.idPrefix ?? 'gen',
    practitioners: [],
  };
  ctx.practitioners = makePractitioners(ctx);
  const resources: Resource[] = [
    ...ctx.practitioners,
    questionnaireFor(PHQ9, iso(ctx.startMs)),
    questionnaireFor(GAD7, iso(ctx.startMs)),
  ];
  const truth: GeneratedPatientTruth[] = [];
  for (let n = 1; n <= options.patients; n++) {
    const patient = makePatient(ctx, n);
    const profile = ctx.rng.weighted(PROFILE_WEIGHTS);
    resources.push(patient, ...makeAppointments(ctx, patient, profile));
    if (ctx.rng.chance(0.9)) {
      resources.push(makeCarePlan(ctx, patient, profile));
    }
    let trajectory: Trajectory | undefined;
    if (ctx.rng.chance(0.75)) {
      trajectory = ctx.rng.weighted({ improving: 45, flat: 30, worsening: 25 });
      resources.push(...makeResponses(ctx, patient, profile, trajectory));
    }
    truth.push({ id: patient.id as string, profile, ...(trajectory ? { trajectory } : {}) });
  }
  return { resources, truth };
}

/** NDJSON, one resource a line: the byte-identical form the determinism test hashes. */
export function toNdjson(resources: Resource[]): string {
  return resources.map((r) => JSON.stringify(r)).join('\n') + (resources.length > 0 ? '\n' : '');
}
