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
}

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
    if (direct && o.sms) {
      const since = Date.now();
      const midday = await syncSource(o.store, o.config, o.source, {
        asOf: new Date(day.getTime() + MIDDAY_MS),
        signal: o.signal,
      });
      texted = midday.messages?.sent ?? 0;
      await o.sms.settled();
      await patientsReply(o.sms, since, rng);
    }
    const report = await simulateDay(o.repo, day, o.seed, {
      ...DEFAULT_SIMULATION,
      identifierSystem: o.config.actions.identifierSystem,
      platformSendsReminders: !direct,
    });
    if (direct) report.remindersSent = texted;
    const summary = await syncSource(o.store, o.config, o.source, { asOf: endOfDay(day), signal: o.signal });
    days.push(report);
    summaries.push(summary);
    o.onDay?.(report, summary);
  }
  return { days, summaries };
}
