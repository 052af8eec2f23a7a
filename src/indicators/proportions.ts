/**
 * Confidence intervals of the programme's rates (docs/indicators.md, "Programme level"). Pure.
 *
 * - One proportion: the Wilson score interval (Wilson EB. "Probable inference, the law of succession,
 *   and statistical inference." J Am Stat Assoc 1927;22(158):209-212), which behaves at small counts
 *   and near 0 and 1, unlike the normal (Wald) interval (Brown LD, Cai TT, DasGupta A. "Interval
 *   estimation for a binomial proportion." Stat Sci 2001;16(2):101-133).
 * - A difference of two independent proportions: Newcombe's hybrid score interval built from the two
 *   Wilson intervals (Newcombe RG. "Interval estimation for the difference between independent
 *   proportions: comparison of eleven methods." Stat Med 1998;17(8):873-890, method 10).
 */

/** The 97.5th percentile of the standard normal: a two-sided 95 % interval. */
const Z95 = 1.959963984540054;

/** Below this many, a rate is shown with "too few to judge". */
export const MIN_DENOMINATOR = 20;

export interface Interval {
  low: number;
  high: number;
}

const round4 = (x: number): number => Math.round(x * 10_000) / 10_000;

/** The 95 % Wilson score interval of k successes in n; null when n is 0. */
export function wilson(k: number, n: number, z = Z95): Interval | null {
  if (n <= 0) return null;
  const p = k / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { low: round4(Math.max(0, centre - half)), high: round4(Math.min(1, centre + half)) };
}

/** The 95 % Newcombe interval of p1 − p2 (k1 of n1 against k2 of n2); null when either n is 0. */
export function newcombeDifference(k1: number, n1: number, k2: number, n2: number): Interval | null {
  const a = wilson(k1, n1);
  const b = wilson(k2, n2);
  if (!a || !b) return null;
  const p1 = k1 / n1;
  const p2 = k2 / n2;
  const d = p1 - p2;
  const low = d - Math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2);
  const high = d + Math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2);
  return { low: round4(Math.max(-1, low)), high: round4(Math.min(1, high)) };
}
