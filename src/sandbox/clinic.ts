/**
 * Days of clinic life against the sandbox EMR: each simulated day is
 * followed by a sync at the end of that day, so the programme's figures
 * (reminders, surveys, people's completions) move as they would in a real
 * clinic. Used by `npm start` on the embedded default, by
 * `fhir-engage sandbox simulate`, and by the tests.
 */
import type { AppConfig, SourceConfig } from '../config/types';
import type { SandboxRepository } from './repository';
import { DEFAULT_SIMULATION, simulateDay, type DayReport } from './simulate';
import type { Store } from '../store/store';
import { syncSource } from '../sync/run';
import type { SyncSummary } from '../sync/events';
import { Random } from './random';
import type { SmsStandIn } from './sms-provider';
import type { MailCatcher } from './mail-catcher';
import { patientsAnswerSurveys } from './survey-answers';

const DAY_MS = 86_400_000;
/** 10:00 UTC: inside the default send window (09:00–19:00) of the sandbox's clinic. */
const MIDDAY_MS = 10 * 3_600_000;

export interface ClinicDaysOptions {
  store: Store;
  config: AppConfig;
  source: SourceConfig;
  repo: SandboxRepository;
  /** The day before the first simulated one (00:00 UTC). */
  after: Date;
  days: number;
  seed: number;
  signal?: AbortSignal;
  onDay?: (day: DayReport, summary: SyncSummary) => void;
  /**
   * fhir-engage sends the reminders itself (delivery direct, docs/messaging.md): a sync at 10:00 of each
   * day sends those due (the end-of-day sync is outside the send window), and a few patients answer
   * their texts through the SMS stand-in.
   */
  sms?: SmsStandIn;
  /** Its mail catcher: emailed survey links are answered too. */
  mail?: MailCatcher;
  /**
   * The survey page's clock (set to the simulated day while patients answer) and the follow-ups of their
   * answers (awaited before the day's sync: a source runs one sync at a time).
   */
  surveys?: SurveyPageHooks;
}

export interface SurveyPageHooks {
  clock: { at?: Date };
  followUps: Promise<void>[];
}

/** Today's survey links, answered through the page at 14:00 of the simulated day; how many were. */
async function patientsAnswer(o: ClinicDaysOptions, day: Date, since: number, rng: Random): Promise<number> {
  const hooks = o.surveys;
  if (!hooks || !o.sms) return 0;
  const texts = [
    ...o.sms.messages.filter((m) => m.createdAt.getTime() >= since).map((m) => m.body),
    ...(o.mail?.mails.slice(mailsBefore.get(o.mail) ?? 0) ?? []),
  ];
  if (o.mail) mailsBefore.set(o.mail, o.mail.mails.length);
  hooks.clock.at = new Date(day.getTime() + ANSWER_MS);
  try {
    const answered = await patientsAnswerSurveys(texts, rng, LINK_ANSWER_RATE);
    await Promise.all(hooks.followUps.splice(0));
    return answered;
  } finally {
    hooks.clock.at = undefined;
  }
}

const mailsBefore = new WeakMap<MailCatcher, number>();
/** 14:00 UTC: patients answer the links texted in the morning. */
const ANSWER_MS = 14 * 3_600_000;
/** Odds that a patient answers the survey link they were sent that day. */
const LINK_ANSWER_RATE = 0.5;

/** Share of the day's texts answered: STOP, a few words, HELP (seeded). */
const REPLIES: [number, string][] = [
  [0.02, 'STOP'],
  [0.03, 'Thank you, see you then'],
  [0.01, 'HELP'],
];

/** A few of the patients texted today answer (the simulator's patients), through the stand-in. */
async function patientsReply(sms: SmsStandIn, since: number, rng: Random): Promise<number> {
  let replies = 0;
  for (const m of sms.messages.filter((x) => x.createdAt.getTime() >= since)) {
    let roll = rng.next();
    for (const [odds, text] of REPLIES) {
      if (roll < odds) {
        await sms.reply(m.to, text);
        replies++;
        break;
      }
      roll -= odds;
    }
  }
  return replies;
}

/** The instant a simulated day's sync computes at: its last second. */
export function endOfDay(dayStart: Date): Date {
  return new Date(Math.floor(dayStart.getTime() / DAY_MS) * DAY_MS + DAY_MS - 1000);
}

export async function runClinicDays(o: ClinicDaysOptions): Promise<{ days: DayReport[]; summaries: SyncSummary[] }> {
  const days: DayReport[] = [];
  const summaries: SyncSummary[] = [];
  const first = Math.floor(o.after.getTime() / DAY_MS) * DAY_MS + DAY_MS;
  const direct = Boolean(o.sms && o.config.messaging);
  const rng = new Random(o.seed * 31 + 7);
  for (let d = 0; d < o.days && !o.signal?.aborted; d++) {
    const day = new Date(first + d * DAY_MS);
    let texted = 0;
    let byLink = 0;
    if (direct && o.sms) {
      const since = Date.now();
      const midday = await syncSource(o.store, o.config, o.source, {
        asOf: new Date(day.getTime() + MIDDAY_MS),
        signal: o.signal,
      });
      texted = midday.messages?.sent ?? 0;
      await o.sms.settled();
      await patientsReply(o.sms, since, rng);
      byLink = await patientsAnswer(o, day, since, rng);
    }
    const report = await simulateDay(o.repo, day, o.seed, {
      ...DEFAULT_SIMULATION,
      identifierSystem: o.config.actions.identifierSystem,
      platformSendsReminders: !direct,
      ...(o.surveys ? { answeredByLink: await o.store.linkedSurveyTaskIds(o.source.id) } : {}),
    });
    if (direct) report.remindersSent = texted;
    report.surveysAnswered += byLink;
    report.surveysAnsweredByLink = byLink;
    const summary = await syncSource(o.store, o.config, o.source, { asOf: endOfDay(day), signal: o.signal });
    days.push(report);
    summaries.push(summary);
    o.onDay?.(report, summary);
  }
  return { days, summaries };
}
