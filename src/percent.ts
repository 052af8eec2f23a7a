/**
 * Rates as people read them, the same everywhere (terminal, reports, explanations, emails): a fraction
 * shown as a percentage with one decimal ("83.3 %"), a difference of two rates in percentage points
 * ("+4.0 pp"). One decimal tells 0.4 % from 0 % without pretending to more precision than the counts.
 */

/** 0.8333 → "83.3 %"; null → "n/a". */
export function percent(fraction: number | null | undefined): string {
  return fraction === null || fraction === undefined || Number.isNaN(fraction)
    ? 'n/a'
    : `${(Math.round(fraction * 1000) / 10).toFixed(1)} %`;
}

/** A difference of two rates (fractions) in percentage points: 0.04 → "+4.0 pp" (not a percentage of anything). */
export function percentagePoints(difference: number | null | undefined): string {
  if (difference === null || difference === undefined || Number.isNaN(difference)) return 'n/a';
  const rounded = Math.round(difference * 1000) / 10;
  return `${rounded > 0 ? '+' : ''}${rounded.toFixed(1)} pp`;
}
