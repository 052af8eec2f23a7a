/**
 * Whether a run's pull gives a complete picture, and what a run's outcome
 * is. fhir-engage never computes or writes for a patient from partial data:
 * if a type the indicators read could not be pulled in this run, no patient
 * is recomputed (their indicators would silently miss that type); if only
 * some patients' per-patient searches failed, those patients are held back.
 * Held-back patients stay pending and are computed by the next complete run.
 * Pure: no I/O.
 */
import type { SourceConfig } from '../config/types';
import type { TypeReport } from '../fhir/pull-context';
import type { RunStatus } from '../store/types';

/** Types whose data the engagement model and indicators read. */
export const INDICATOR_TYPES: ReadonlySet<string> = new Set([
  'Patient',
  'Appointment',
  'CarePlan',
  'QuestionnaireResponse',
  'Task',
]);

export interface HoldBack {
  /** No patient may be recomputed in this run. */
  all: boolean;
  /** Patients held back individually (per-patient searches that failed). */
  patients: ReadonlySet<string>;
  /** Why, one line per cause, for the summary. */
  reasons: string[];
}

function cause(t: TypeReport): string {
  return t.error ?? t.notes[0] ?? t.status;
}

export function holdBack(
  source: Pick<SourceConfig, 'resourceTypes'>,
  reports: TypeReport[],
  failedPatients: string[],
): HoldBack {
  const reasons: string[] = [];
  let all = false;
  if (!source.resourceTypes.includes('Patient')) {
    all = true;
    reasons.push(
      "Patient is not among the source's resourceTypes: fhir-engage computes and writes only for patients the EMR returns",
    );
  }
  for (const t of reports) {
    if (t.resourceType === 'Group' && t.status !== 'ok') {
      // Who is enrolled is unknown: computing now would close the Tasks of everyone enrolled through it.
      all = true;
      reasons.push(`a Group named by a programme could not be read, so enrolment is unknown: ${cause(t)}`);
    }
    if (!INDICATOR_TYPES.has(t.resourceType)) continue;
    if (t.status === 'failed' || t.status === 'skipped' || t.status === 'interrupted') {
      all = true;
      reasons.push(`${t.resourceType} ${t.status}: ${cause(t)}`);
    } else if (t.status === 'partial' && t.exportErrors) {
      // Which patients the missing resources belong to is not known: none is computed from this picture.
      all = true;
      reasons.push(
        `${t.resourceType}: the server could not export ${t.exportErrors} resource(s); they are asked for again next run`,
      );
    } else if (t.status === 'partial') {
      // Which patients: the engineer can look them up in the EMR (ids only; never a name).
      const named = failedPatients.slice(0, 5).map((id) => `Patient/${id}`);
      const more = failedPatients.length > named.length ? `, and ${failedPatients.length - named.length} more` : '';
      reasons.push(
        `${t.resourceType}: ${t.failedPatients} patient(s) could not be searched (${named.join(', ')}${more}): ${cause(t)}`,
      );
    }
  }
  return { all, patients: new Set(failedPatients), reasons };
}

/** The held-back reasons as the log keeps them: the run summary names the patients, the log no patient identifier. */
export const reasonsForLog = (reasons: readonly string[]): string[] =>
  reasons.map((r) => r.replace(/ \(Patient\/[^)]*\)/, ' (named in the run summary)'));

export interface OutcomeFacts {
  pull: TypeReport[];
  heldBackPatients: number;
  writesFailed: number;
  deadLettersAdded: number;
}

/**
 * interrupted > failed (every type failed: nothing was pulled) >
 * partially-failed (something was not done, or new dead letters) > succeeded.
 * Dead letters already open from earlier runs do not fail a run again.
 */
export function runStatus(f: OutcomeFacts): RunStatus {
  if (f.pull.some((t) => t.status === 'interrupted')) return 'interrupted';
  if (f.pull.length > 0 && f.pull.every((t) => t.status === 'failed' || t.status === 'skipped')) return 'failed';
  const incomplete = f.pull.some((t) => t.status !== 'ok');
  return incomplete || f.heldBackPatients > 0 || f.writesFailed > 0 || f.deadLettersAdded > 0
    ? 'partially-failed'
    : 'succeeded';
}
