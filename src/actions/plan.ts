/**
 * Plans the writes for one patient (docs/actions.md): every rule of src/actions/rules/ says which
 * resources it wants in the EMR; Tasks whose reason has gone are closed (or forgotten when a person
 * took them on). Pure: indicators, model, what was written before and `now` in; desired writes out.
 * Every resource carries an identifier (fhir-engage's system, a value from patient, rule and
 * period), so writing it again can never duplicate it.
 */
import { RULE_NAMES, type ActionSettings, type RuleName } from '../config/action-settings';
import type { ProgrammeDefinition } from '../config/programme-settings';
import type { PatientIndicators } from '../indicators/compute';
import { TERMINAL_TASK_STATUSES } from '../indicators/task-status';
import type { EngagementModel } from '../mapping/model';
import type { WrittenResource } from '../store/types';
import type { DesiredUpsert, RuleInput } from './rule';
import { RULES } from './rules';
import { plannedEpisodes } from './episodes';

export type { DesiredUpsert } from './rule';

export interface DesiredClose {
  op: 'close';
  identifier: string;
  rule: RuleName;
  patientId: string;
  resourceType: 'Task';
  priority: number;
  /** cancelled when the reason went away, completed when the rule says the goal was met. */
  status: 'cancelled' | 'completed';
  reason: string;
  serverId: string | null;
  entities: string[];
  /** When fhir-engage decided it (the run's as-of): the closed Task's lastModified. */
  at: string;
  /** The programme the patient left, when that is why it closes. */
  programme?: string;
}

export type DesiredWrite = DesiredUpsert | DesiredClose;

export interface PlanResult {
  writes: DesiredWrite[];
  /** Tasks a person moved on whose reason has gone: fhir-engage forgets them (no request to the EMR). */
  forget: string[];
}

/** What to do when a rule's reason has gone: complete the follow-up (answered), cancel the rest; never close a safety Task. */
function closeStatus(rule: RuleName): 'cancelled' | 'completed' | undefined {
  if (rule === 'phq9-item9-safety') return undefined;
  if (rule === 'phq9-follow-up') return 'completed';
  return 'cancelled';
}

const CLOSE_REASON: Partial<Record<RuleName, string>> = {
  'outreach-no-shows': 'no longer 2 or more no-shows in the lookback window',
  'phq9-follow-up': 'a newer PHQ-9 response arrived',
  'overdue-activity': 'the activity is done, cancelled or no longer overdue',
  'appointment-reminder':
    'the appointment was cancelled, missed, rescheduled to an earlier day than this reminder, or has passed',
  'reminder-no-channel': 'the patient can be reminded now, or has no upcoming appointment',
  'survey-assignment': 'the window to answer closed without a response',
  'post-visit-survey': 'the window to answer closed without a response',
};

/** A programme that enrols everyone and runs every rule: planPatient's, with the settings given. */
const EVERY_RULE: ProgrammeDefinition = { id: 'all', name: 'every rule', enrol: { any: [] } };

/** One programme (every rule, with these settings): what the rules want for the patient, and what to close. */
export function planPatient(
  ind: PatientIndicators,
  model: EngagementModel,
  written: WrittenResource[],
  settings: ActionSettings,
  now: Date,
): PlanResult {
  return planProgrammes(ind, model, written, settings, [EVERY_RULE], now);
}

/**
 * The settings a programme runs with: the file's `actions:` with the programme's over them, and the
 * rules it does not run switched off for it.
 */
export function programmeSettings(base: ActionSettings, p: ProgrammeDefinition): ActionSettings {
  const off = p.rules ? RULE_NAMES.filter((r) => !p.rules?.includes(r)) : [];
  return {
    ...base,
    ...p.actions,
    reminders: { ...base.reminders, ...p.actions?.reminders },
    surveys: { ...base.surveys, ...p.actions?.surveys },
    disabled: [...new Set([...base.disabled, ...off])],
  };
}

export interface PlanOptions {
  /** Programmes the patient left at this run: open Tasks only they wanted close naming them. */
  left?: readonly ProgrammeDefinition[];
  /** When each programme (by id) first enrolled anyone on the source; absent: it starts now. */
  startedAt?: ReadonlyMap<string, Date>;
  /** When the patient's spell in each programme began; absent: now. With neither map, nothing is phased. */
  enrolledAt?: ReadonlyMap<string, Date>;
  /** Write each enrolment as an EpisodeOfCare (the source's `episodesOfCare`). */
  episodes?: boolean;
}

/** The rule context of one programme for the patient: its settings, its clinic's zone, its phased start. */
function programmeContext(
  base: ActionSettings,
  p: ProgrammeDefinition,
  patientId: string,
  now: Date,
  options: PlanOptions,
): RuleInput['ctx'] {
  const phased = options.startedAt !== undefined || options.enrolledAt !== undefined;
  return {
    patientId,
    now,
    settings: programmeSettings(base, p),
    ...(p.timeZone ? { timeZone: p.timeZone } : {}),
    ...(phased
      ? {
          phase: {
            programmeStart: (options.startedAt?.get(p.id) ?? now).getTime(),
            enrolledAt: (options.enrolledAt?.get(p.id) ?? now).getTime(),
            ...(p.phasedStart ? { days: p.phasedStart.days } : {}),
            patientId,
          },
        }
      : {}),
  };
}

/** Why an open Task nothing wants any more closes, and the programme it names when the patient left one. */
function closeReason(
  rule: RuleName,
  base: ActionSettings,
  running: ReadonlySet<RuleName>,
  reachable: boolean,
  left: readonly ProgrammeDefinition[],
): { reason: string; programme?: string } {
  const gone = reachable ? left.find((p) => !programmeSettings(base, p).disabled.includes(rule)) : undefined;
  if (gone) return { reason: `the patient is no longer enrolled in the programme '${gone.name}'`, programme: gone.id };
  if (running.has(rule) || !reachable) return { reason: CLOSE_REASON[rule] ?? 'the reason no longer holds' };
  return { reason: 'the patient is no longer enrolled in a programme that runs this rule' };
}

/**
 * The writes for a patient enrolled in `enrolled` (in the order the programmes are defined; none:
 * nothing is wanted). What two programmes both want is written once (the same identifier), as the
 * first programme asks it (its Task owner). Open Tasks nothing wants any more are closed; those of a
 * rule no enrolled programme runs say so.
 */
export function planProgrammes(
  ind: PatientIndicators,
  model: EngagementModel,
  written: WrittenResource[],
  base: ActionSettings,
  enrolled: readonly ProgrammeDefinition[],
  now: Date,
  options: PlanOptions = {},
): PlanResult {
  // No outreach, follow-up or scores about a patient who has died or whose record is no longer active;
  // their open Tasks are cancelled below like any other whose reason has gone.
  const reachable = model.patient.deceased !== true && model.patient.active !== false;
  const desired = new Map<string, DesiredUpsert>();
  const running = new Set<RuleName>();
  for (const p of reachable ? enrolled : []) {
    const input: RuleInput = { ind, model, written, ctx: programmeContext(base, p, model.patientId, now, options) };
    for (const r of RULES.filter((x) => !input.ctx.settings.disabled.includes(x.name))) {
      running.add(r.name);
      for (const d of r.plan(input))
        if (!desired.has(d.identifier)) desired.set(d.identifier, { ...d, programme: p.id });
    }
  }
  if (options.episodes)
    for (const d of plannedEpisodes(
      model.patientId,
      base,
      { enrolled: reachable ? enrolled : [], left: options.left ?? [] },
      options.enrolledAt,
      now,
    ))
      desired.set(d.identifier, d);
  const byId = new Map(written.map((w) => [w.identifierValue, w]));
  // A Task a person has taken on in the EMR is left to them while its reason holds; one fhir-engage
  // completed or failed itself (a reminder it delivered, or could not) is done, never reopened.
  const writes: DesiredWrite[] = [...desired.values()].filter((d) => {
    const w = byId.get(d.identifier);
    return (
      w?.state !== 'handled-by-person' &&
      !(w?.state === 'closed' && (w.status === 'completed' || w.status === 'failed'))
    );
  });
  const forget: string[] = [];
  for (const w of written) {
    // A Task that ended (fhir-engage completed it, or it ended in the EMR) is never closed again.
    if (
      w.resourceType !== 'Task' ||
      desired.has(w.identifierValue) ||
      w.state === 'closed' ||
      (w.state === 'open' && w.status !== null && TERMINAL_TASK_STATUSES.has(w.status))
    )
      continue;
    const rule = w.rule as RuleName;
    // Rules switched off in `actions:` write nothing and close nothing.
    if (base.disabled.includes(rule)) continue;
    if (w.state === 'handled-by-person') {
      forget.push(w.identifierValue);
      continue;
    }
    const status = closeStatus(rule);
    if (!status) continue;
    const why = closeReason(rule, base, running, reachable, options.left ?? []);
    writes.push({
      op: 'close',
      identifier: w.identifierValue,
      rule,
      patientId: w.patientId,
      resourceType: 'Task',
      priority: 1,
      status,
      ...why,
      serverId: w.serverId,
      entities: [`Patient/${w.patientId}`],
      at: now.toISOString(),
    });
  }
  writes.sort((a, b) => a.priority - b.priority);
  return { writes, forget };
}
