/**
 * Safety flags (docs/indicators.md, "Safety"): what must reach the care team before anything else
 * about a patient, whatever their engagement tier. Pure.
 *
 * - PHQ-9 item 9 ("thoughts that you would be better off dead, or of hurting yourself") answered
 *   above 0 on the latest PHQ-9: any positive answer needs a same-day clinical assessment (Kroenke K,
 *   Spitzer RL, Williams JBW. The PHQ-9. J Gen Intern Med 2001;16(9):606-613; Simon GE et al.,
 *   Psychiatr Serv 2013;64(12):1195-1202: a positive item 9 predicts suicide attempt and death).
 * - A latest PHQ-9 total of 20 or more ("severe", Kroenke 2001 bands).
 */
import type { Phq9Indicators } from './phq9';

export interface SafetyFlag {
  flagged: boolean;
  /** Why, in words, newest evidence first; empty when not flagged. */
  reasons: string[];
}

/** Kroenke 2001: 20-27 is severe depression. */
export const SEVERE_PHQ9 = 20;

export function safetyFlag(phq9: Phq9Indicators): SafetyFlag {
  const reasons: string[] = [];
  if (phq9.item9.flagged)
    reasons.push(
      `PHQ-9 item 9 (thoughts of self-harm) answered ${phq9.item9.value ?? 'positively'}${phq9.item9.date ? ` on ${phq9.item9.date.slice(0, 10)}` : ''}`,
    );
  if (phq9.latest && phq9.latest.total >= SEVERE_PHQ9)
    reasons.push(`PHQ-9 ${phq9.latest.total} (severe) on ${phq9.latest.date.slice(0, 10)}`);
  return { flagged: reasons.length > 0, reasons };
}

/** The engagement "why" with the safety flag stated first: a flagged patient never reads as simply engaged. */
export const whyWithSafety = (why: string, flag: SafetyFlag): string =>
  flag.flagged ? `SAFETY FLAG: ${flag.reasons.join('; ')}. ${why}` : why;

/** The flag as the care team reads it: open safety Tasks first (open until a person ends them), then the indicators' reasons. */
export function safetyReasons(flag: SafetyFlag, openSafetyTasks: number): string[] {
  return [
    ...(openSafetyTasks > 0 ? [`${openSafetyTasks} open PHQ-9 item 9 safety Task(s) in the EMR`] : []),
    ...flag.reasons,
  ];
}
