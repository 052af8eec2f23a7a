/**
 * Questionnaire completion: responses received ÷ requested, only where the
 * EMR shows what was requested (Tasks asking for a Questionnaire). Where
 * nothing shows it, completion is "unknown" rather than an invented rate.
 * Days since the last completed response, per instrument.
 */
import type { EngagementModel } from '../mapping/model';
import { daysSince, ms, round } from './time';

export type Completion =
  { status: 'unknown'; reason: string } | { status: 'known'; requested: number; received: number; rate: number };

export interface QuestionnaireIndicators {
  completion: Completion;
  /** Days since the latest completed response, by instrument ("other" for unrecognised ones). */
  daysSinceLastResponse: Record<string, number>;
  /** Days since any completed response. */
  daysSinceAnyResponse?: number;
}

export function questionnaireIndicators(model: EngagementModel, now: Date): QuestionnaireIndicators {
  const t = now.getTime();
  const completed = model.responses.filter((r) => r.status === 'completed' && (ms(r.authored) ?? Infinity) <= t);
  const latestBy: Record<string, string> = {};
  for (const r of completed) {
    const key = r.instrument ?? 'other';
    if (!latestBy[key] || (ms(r.authored) ?? 0) > (ms(latestBy[key]) ?? 0)) latestBy[key] = r.authored as string;
  }
  const daysSinceLastResponse: Record<string, number> = {};
  for (const [k, v] of Object.entries(latestBy).sort()) daysSinceLastResponse[k] = daysSince(v, now) as number;
  const any = Object.values(latestBy).sort((a, b) => (ms(b) ?? 0) - (ms(a) ?? 0))[0];

  // A request withdrawn by its sender does not count; fhir-engage cancels its own only when the window closed unanswered, so those do (not responded).
  const requests = model.requests.filter(
    (q) =>
      (ms(q.authoredOn) ?? 0) <= t &&
      (q.own === true || (q.status !== 'cancelled' && q.status !== 'rejected')) &&
      q.status !== 'entered-in-error',
  );
  let completion: Completion;
  if (requests.length === 0) {
    completion = { status: 'unknown', reason: 'the EMR shows no questionnaire requests (Tasks) for this patient' };
  } else {
    // A request is answered by a completed response to the same instrument (or questionnaire) authored after it, or by the Task being completed.
    const used = new Set<string>();
    let received = 0;
    let counted = 0;
    for (const q of [...requests].sort((a, b) => (ms(a.authoredOn) ?? 0) - (ms(b.authoredOn) ?? 0))) {
      const answer = completed.find(
        (r) =>
          !used.has(r.id) &&
          (ms(r.authored) ?? 0) >= (ms(q.authoredOn) ?? 0) &&
          // A request with a window is answered only inside it: a later response belongs to a later request.
          (q.due === undefined || (ms(r.authored) ?? 0) <= (ms(q.due) ?? 0)) &&
          ((q.instrument && r.instrument === q.instrument) ||
            (q.questionnaire && r.questionnaire?.split('|')[0] === q.questionnaire.split('|')[0])),
      );
      if (answer) {
        used.add(answer.id);
        received++;
      } else if (q.status === 'completed') {
        received++;
      } else if (q.due !== undefined && (ms(q.due) ?? 0) > t) {
        // Still open: not answered *yet*, so not counted either way.
        continue;
      }
      counted++;
    }
    completion =
      counted === 0
        ? { status: 'unknown', reason: 'every request shown by the EMR is still open' }
        : { status: 'known', requested: counted, received, rate: round(received / counted) };
  }
  const result: QuestionnaireIndicators = { completion, daysSinceLastResponse };
  const d = daysSince(any, now);
  if (d !== undefined) result.daysSinceAnyResponse = d;
  return result;
}
