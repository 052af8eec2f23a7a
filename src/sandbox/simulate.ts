/**
 * A clinic that lives: moves the sandbox EMR forward one day at a time as
 * patients, a messaging platform and a care team would, acting on the
 * repository directly. Seeded and deterministic (same seed, same data,
 * same day → same changes).
 *
 * Each day:
 * - the messaging platform sends reminders whose time has come (their Task
 *   becomes completed);
 * - appointments of the day are kept, missed or cancelled — missed more
 *   often without a reminder sent;
 * - a few booked appointments are rescheduled; patients without a future
 *   appointment book one;
 * - patients answer open survey Tasks (PHQ-9, GAD-7, post-visit feedback)
 *   with some probability each day of the window;
 * - the care team accepts fhir-engage's Tasks after a few days and
 *   completes them later;
 * - new patients arrive (about 1 % of the population a day), each with a
 *   first visit booked; every third is referred to the diabetes programme
 *   (added to the referral Group), so that programmes enrol over time.
 */
import type {
  Appointment,
  Group,
  Patient,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import { GAD7, PHQ9 } from './instruments';
import { responseItems } from './synthetic';
import { Random } from './random';
import { syntheticPatient } from './generate';
import { COHORT_GROUP_ID, REFERRAL_GROUP_ID } from './seed';
import type { SandboxRepository } from './repository';

const DAY_MS = 86_400_000;

export interface SimulationSettings {
  /** fhir-engage's identifier system: how its Tasks are told apart. */
  identifierSystem: string;
  /** No-show odds of an appointment with and without a reminder sent (reminders roughly halve no-shows; Guy 2012). */
  noShowWithReminder: number;
  noShowWithoutReminder: number;
  cancelRate: number;
  /** Per day: odds that a patient with no future appointment books one, that a booked one is moved. */
  bookRate: number;
  rescheduleRate: number;
  /** Per day of an open window: odds that the patient answers the survey. */
  answerRate: number;
  /** Per day: odds that the care team accepts a new Task, and completes an accepted one. */
  acceptRate: number;
  completeRate: number;
  /** Per day: new patients, as a share of the generated patients (each with a first visit booked). */
  newPatientRate: number;
  /**
   * A messaging platform sends the reminder Tasks that are due (delivery tasks-only); false when
   * fhir-engage sends them itself (delivery direct) and completes their Tasks on delivery.
   */
  platformSendsReminders?: boolean;
  /** Survey Tasks (EMR ids) whose patients were sent a link: they answer through the survey page, not here. */
  answeredByLink?: ReadonlySet<string>;
}

export const DEFAULT_SIMULATION: SimulationSettings = {
  identifierSystem: 'https://fhir-engage.dev/fhir/identifier',
  noShowWithReminder: 0.08,
  noShowWithoutReminder: 0.2,
  cancelRate: 0.05,
  bookRate: 0.12,
  rescheduleRate: 0.01,
  answerRate: 0.25,
  acceptRate: 0.3,
  completeRate: 0.25,
  newPatientRate: 0.01,
};

export interface DayReport {
  day: string;
  remindersSent: number;
  kept: number;
  noShows: number;
  cancelled: number;
  rescheduled: number;
  booked: number;
  surveysAnswered: number;
  /** Of those, answered through the survey page (a link sent by fhir-engage). */
  surveysAnsweredByLink?: number;
  tasksAccepted: number;
  tasksCompleted: number;
  newPatients: number;
}

const CARE_TEAM_CODES = new Set([
  'outreach-no-shows',
  'phq9-follow-up',
  'overdue-activity',
  'phq9-item9-safety',
  'reminder-no-channel',
]);
const STAFF = ['Practitioner/gen-prac-03', 'Practitioner/gen-prac-05'];

/** A patient's own propensity (0.3–1.7 × the base odds), stable across days: some patients answer and book far more than others. */
function propensity(patientRef: string): number {
  let h = 0;
  for (const c of patientRef) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return 0.3 + ((h % 1000) / 1000) * 1.4;
}

const isOwn = (r: Resource, system: string): boolean =>
  ((r as { identifier?: { system?: string }[] }).identifier ?? []).some((i) => i.system === system);
const taskCode = (t: Task): string | undefined => t.code?.coding?.[0]?.code;

/** A moment within the day (business hours), from the RNG: changes carry their real time. */
function momentOf(rng: Random, dayStart: number): string {
  return new Date(dayStart + rng.int(8 * 3600, 17 * 3600) * 1000).toISOString();
}

function patientOf(r: Appointment): string | undefined {
  return r.participant
    .map((p) => p.actor?.reference)
    .find((ref) => ref?.startsWith('Patient/'))
    ?.slice('Patient/'.length);
}

/** Answers to the example satisfaction survey: mostly satisfied, some not. */
function satisfactionItems(rng: Random): QuestionnaireResponseItem[] {
  const recommend = rng.weighted({ '10': 25, '9': 22, '8': 18, '7': 12, '6': 8, '5': 6, '3': 5, '0': 4 });
  const experience = (): number => Math.max(1, Math.min(5, Number(recommend) >= 8 ? rng.int(4, 5) : rng.int(2, 4)));
  return [
    {
      linkId: 'recommend',
      text: 'How likely are you to recommend this service to a friend or family member? (0-10)',
      answer: [{ valueInteger: Number(recommend) }],
    },
    { linkId: 'explained', text: 'Things were explained clearly (1-5)', answer: [{ valueInteger: experience() }] },
    { linkId: 'listened', text: 'I was listened to (1-5)', answer: [{ valueInteger: experience() }] },
    { linkId: 'time', text: 'I was seen on time (1-5)', answer: [{ valueInteger: experience() }] },
  ];
}

function surveyAnswer(rng: Random, canonical: string): QuestionnaireResponseItem[] | undefined {
  if (canonical === PHQ9.url)
    return responseItems(rng, PHQ9, rng.int(2, 18), { selfHarm: 0, includeTotal: rng.chance(0.5), missing: 0 });
  if (canonical === GAD7.url)
    return responseItems(rng, GAD7, rng.int(1, 15), { selfHarm: 0, includeTotal: rng.chance(0.5), missing: 0 });
  if (canonical.endsWith('/Questionnaire/post-visit-satisfaction')) return satisfactionItems(rng);
  return undefined;
}

/**
 * Simulates one day, `dayStart` being its 00:00 UTC. The RNG is derived
 * from the seed and the day, so any day can be replayed on its own.
 */
/** What one simulated day works with. */
interface Day {
  repo: SandboxRepository;
  rng: Random;
  start: number;
  end: number;
  settings: SimulationSettings;
  report: DayReport;
  ownTasks: Task[];
  update: <T extends Resource>(r: T) => Promise<void>;
}

export async function simulateDay(
  repo: SandboxRepository,
  dayStart: Date,
  seed: number,
  settings: SimulationSettings = DEFAULT_SIMULATION,
): Promise<DayReport> {
  const start = Math.floor(dayStart.getTime() / DAY_MS) * DAY_MS;
  const d: Day = {
    repo,
    rng: new Random((seed * 1_000_003 + Math.floor(start / DAY_MS)) % 2_147_483_647),
    start,
    end: start + DAY_MS,
    settings,
    report: {
      day: new Date(start).toISOString().slice(0, 10),
      remindersSent: 0,
      kept: 0,
      noShows: 0,
      cancelled: 0,
      rescheduled: 0,
      booked: 0,
      surveysAnswered: 0,
      tasksAccepted: 0,
      tasksCompleted: 0,
      newPatients: 0,
    },
    ownTasks: (repo.all('Task') as Task[]).filter((t) => isOwn(t, settings.identifierSystem)),
    update: async (r) => void (await repo.updateResource(r as Resource & { id: string })),
  };
  // The phases draw from one seeded stream, in this order: the same seed and day give the same day.
  const sentFor = await sendReminders(d, settings.platformSendsReminders !== false);
  const future = await holdAppointments(d, sentFor);
  await bookFollowUps(d, future);
  await workTasks(d);
  // From a stream of its own: the phases above draw what they drew before patients arrived.
  await admitPatients(d, new Random((seed * 7_919 + Math.floor(start / DAY_MS)) % 2_147_483_647));
  return d.report;
}

/** New patients arrive with a first visit booked; every third is referred (added to the referral Group). */
async function admitPatients(d: Day, rng: Random): Promise<void> {
  const population = (d.repo.all('Patient') as Patient[]).filter((p) => p.id?.startsWith('gen-')).length;
  const expected = population * d.settings.newPatientRate;
  const count = Math.floor(expected) + (rng.chance(expected - Math.floor(expected)) ? 1 : 0);
  const referrals = d.repo.peek('Group', REFERRAL_GROUP_ID) as Group | undefined;
  const cohort = d.repo.peek('Group', COHORT_GROUP_ID) as Group | undefined;
  const referred: Group['member'] = [];
  const joined: Group['member'] = [];
  for (let i = 0; i < count; i++) {
    const n = 900_000 + (Math.floor(d.start / DAY_MS) % 10_000) * 10 + i;
    const id = `gen-pat-new-${d.report.day.replace(/-/g, '')}-${i}`;
    // Stamped by the repository when created, as any new record is (an incremental pull sees it).
    const { meta: _drawn, ...patient } = syntheticPatient(
      rng,
      id,
      n,
      d.start,
      (r) => d.start + r.int(8, 17) * 3_600_000,
    );
    await d.repo.createResource<Patient>(patient);
    const at = d.start + rng.int(3, 14) * DAY_MS + rng.int(9, 16) * 3_600_000;
    await d.repo.createResource<Appointment>({
      resourceType: 'Appointment',
      id: `${id}-first-visit`,
      status: 'booked',
      description: 'New patient intake',
      start: new Date(at).toISOString(),
      end: new Date(at + 45 * 60_000).toISOString(),
      created: momentOf(rng, d.start),
      participant: [{ actor: { reference: `Patient/${id}` }, required: 'required', status: 'accepted' }],
    });
    joined.push({ entity: { reference: `Patient/${id}` } });
    if (n % 3 === 0) referred.push({ entity: { reference: `Patient/${id}` } });
    d.report.newPatients++;
  }
  if (referrals && referred.length)
    await d.update({ ...referrals, member: [...(referrals.member ?? []), ...referred] });
  // The programme's registry grows with the clinic (a Group-level export or search sees them).
  if (cohort && joined.length) await d.update({ ...cohort, member: [...(cohort.member ?? []), ...joined] });
}

/** The messaging platform sends what is due today (unless fhir-engage does); returns the appointments reminded. */
async function sendReminders(d: Day, platform: boolean): Promise<Set<string>> {
  const { start, end } = d;
  const sentFor = new Set<string>();
  for (const t of d.ownTasks) {
    if (taskCode(t) !== 'appointment-reminder') continue;
    if (t.status === 'completed') sentFor.add(t.focus?.reference ?? '');
    if (!platform) continue;
    if (t.status !== 'requested' || !t.restriction?.period?.start || Date.parse(t.restriction.period.start) >= end)
      continue;
    if (!d.rng.chance(0.95)) continue;
    await d.update({ ...t, status: 'completed', lastModified: momentOf(d.rng, start) });
    sentFor.add(t.focus?.reference ?? '');
    d.report.remindersSent++;
  }
  return sentFor;
}

/** Appointments of the day happen; later ones are sometimes moved. Returns the patients with a visit still to come. */
async function holdAppointments(d: Day, sentFor: Set<string>): Promise<Set<string>> {
  const { start, end } = d;
  const appointments = d.repo.all('Appointment') as Appointment[];
  const future = new Set<string>();
  for (const a of appointments) {
    if (a.status !== 'booked' || !a.start) continue;
    const at = Date.parse(a.start);
    if (at >= start && at < end) {
      const reminded = sentFor.has(`Appointment/${a.id}`);
      const outcome = d.rng.chance(d.settings.cancelRate)
        ? 'cancelled'
        : d.rng.chance(reminded ? d.settings.noShowWithReminder : d.settings.noShowWithoutReminder)
          ? 'noshow'
          : 'fulfilled';
      await d.update({ ...a, status: outcome });
      if (outcome === 'fulfilled') d.report.kept++;
      else if (outcome === 'noshow') d.report.noShows++;
      else d.report.cancelled++;
    } else if (at >= end) {
      const p = patientOf(a);
      if (p) future.add(p);
      if (at > end + 2 * DAY_MS && d.rng.chance(d.settings.rescheduleRate)) {
        const moved = at + d.rng.int(7, 14) * DAY_MS;
        await d.update({
          ...a,
          start: new Date(moved).toISOString(),
          end: new Date(moved + 30 * 60_000).toISOString(),
        });
        d.report.rescheduled++;
      }
    }
  }
  return future;
}

/** Patients with no visit to come book one, some more readily than others. */
async function bookFollowUps(d: Day, future: Set<string>): Promise<void> {
  const { start } = d;
  for (const p of d.repo.all('Patient') as Patient[]) {
    if (
      p.active === false ||
      p.deceasedBoolean ||
      p.deceasedDateTime ||
      future.has(p.id as string) ||
      !p.id?.startsWith('gen-') ||
      !d.rng.chance(d.settings.bookRate * propensity(`Patient/${p.id}`))
    )
      continue;
    const at = start + d.rng.int(7, 28) * DAY_MS + d.rng.int(9, 16) * 3_600_000;
    await d.repo.createResource<Appointment>({
      resourceType: 'Appointment',
      id: `${p.id}-sim-${d.report.day}`,
      status: 'booked',
      description: 'Care-management follow-up',
      start: new Date(at).toISOString(),
      end: new Date(at + 30 * 60_000).toISOString(),
      created: momentOf(d.rng, start),
      participant: [{ actor: { reference: `Patient/${p.id}` }, required: 'required', status: 'accepted' }],
    });
    d.report.booked++;
  }
}

/** Patients answer surveys; the care team works its Tasks. */
async function workTasks(d: Day): Promise<void> {
  const { start, end } = d;
  for (const t of d.ownTasks) {
    const code = taskCode(t);
    const patient = t.for?.reference;
    if (code === 'survey-assignment' || code === 'post-visit-survey') {
      // Open today (its window began before the day ends and has not closed), not answered yet.
      const open =
        t.status === 'requested' &&
        Date.parse(t.executionPeriod?.start ?? '') < end &&
        Date.parse(t.executionPeriod?.end ?? '') > start;
      if (!open || !patient || d.repo.peek('QuestionnaireResponse', `${t.id}-answer`)) continue;
      if (d.settings.answeredByLink?.has(t.id as string)) continue;
      const canonical = t.input?.find((i) => i.valueCanonical)?.valueCanonical;
      const items = canonical ? surveyAnswer(d.rng, canonical) : undefined;
      if (!items || !d.rng.chance(Math.min(1, d.settings.answerRate * propensity(patient)))) continue;
      await d.repo.createResource<QuestionnaireResponse>({
        resourceType: 'QuestionnaireResponse',
        id: `${t.id}-answer`,
        questionnaire: canonical,
        status: 'completed',
        subject: { reference: patient },
        authored: momentOf(d.rng, start),
        item: items,
      });
      d.report.surveysAnswered++;
    } else if (code && CARE_TEAM_CODES.has(code)) {
      if (t.status === 'requested' && d.rng.chance(d.settings.acceptRate)) {
        await d.update({
          ...t,
          status: 'in-progress',
          owner: { reference: d.rng.pick(STAFF) },
          lastModified: momentOf(d.rng, start),
        });
        d.report.tasksAccepted++;
      } else if (t.status === 'in-progress' && d.rng.chance(d.settings.completeRate)) {
        await d.update({ ...t, status: 'completed', lastModified: momentOf(d.rng, start) });
        d.report.tasksCompleted++;
      }
    }
  }
}
