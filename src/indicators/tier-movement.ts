/**
 * Tier movement over a period (docs/programme.md, "Programme effectiveness"): each patient's engagement
 * tier at the period's start against its end. Pure.
 */
import type { Tier } from './engagement';
import type { ProgrammeContext, ProgrammeReport } from './programme-report';

const TIER_ORDER: Record<Tier, number> = { disengaged: 0, 'at-risk': 1, engaged: 2, unknown: -1 };

export function tierMovement(input: ProgrammeContext): ProgrammeReport['tierMovement'] {
  const transitions: Record<string, number> = {};
  let improved = 0;
  let worsened = 0;
  let unchanged = 0;
  let compared = 0;
  for (const [k, before] of input.tiersAt.from) {
    const after = input.tiersAt.to.get(k);
    if (!after || before === 'unknown' || after === 'unknown') continue;
    const label = `${before} → ${after}`;
    transitions[label] = (transitions[label] ?? 0) + 1;
    compared++;
    if (TIER_ORDER[after] > TIER_ORDER[before]) improved++;
    else if (TIER_ORDER[after] < TIER_ORDER[before]) worsened++;
    else unchanged++;
  }
  return {
    definition:
      'Engagement tier of each patient at the start of the period vs at its end (patients with a known tier at both); n/a when no patient had a tier at the start (no baseline in the period).',
    value: {
      transitions: Object.fromEntries(Object.entries(transitions).sort()),
      // Without a baseline, "improved 0, worsened 0" would read as stability: it is no measurement.
      improved: compared ? improved : null,
      worsened: compared ? worsened : null,
      unchanged: compared ? unchanged : null,
    },
  };
}
