/**
 * The programme report as text: Markdown (with every figure's definition),
 * CSV (one row per figure and part) or JSON. Shared by the `report` command
 * and the dashboard's "download report" (GET /api/programme/report).
 */
import type { ProgrammeReport, Rate } from './programme-report';
import type { Interval } from './proportions';
import { percent, percentagePoints } from '../percent';

export const REPORT_FORMATS = ['md', 'json', 'csv'];
const ci = (i: Interval | null | undefined, unit: (x: number) => string): string =>
  i ? ` (95 % CI ${unit(i.low)} to ${unit(i.high)})` : '';
const TOO_FEW = ' (too few to judge)';

/** Rows of (figure, breakdown, value, numerator, denominator): the one table the md and csv forms share. */
export function reportRows(
  r: Omit<ProgrammeReport, 'programmes'>,
): { figure: string; part: string; value: string; numerator?: number; denominator?: number }[] {
  const rows: ReturnType<typeof reportRows> = [];
  if (r.enrolment) {
    const e = r.enrolment.value;
    rows.push({ figure: 'enrolment', part: 'enrolled at the end of the period', value: String(e.enrolled) });
    rows.push({ figure: 'enrolment', part: 'new enrolments', value: String(e.started) });
    rows.push({ figure: 'enrolment', part: 'disenrolments', value: String(e.ended) });
  }
  const rate = (figure: string, part: string, x: Rate & { ci?: Interval | null }): void =>
    void rows.push({
      figure,
      part,
      value: `${percent(x.rate)}${ci(x.ci, percent)}${x.tooFew ? TOO_FEW : ''}`,
      numerator: x.numerator,
      denominator: x.denominator,
    });
  const effect = r.reminderEffect.value;
  rate('reminder effect', 'attendance with a reminder', effect.withReminder);
  rate('reminder effect', 'attendance without a reminder', effect.withoutReminder);
  rows.push({
    figure: 'reminder effect',
    part: 'difference (percentage points)',
    value: `${percentagePoints(effect.difference)}${ci(effect.differenceCi, percentagePoints)}${effect.withReminder.tooFew || effect.withoutReminder.tooFew ? TOO_FEW : ''}`,
  });
  for (const [channel, x] of Object.entries(r.delivery?.value ?? {}))
    rate('reminder delivery', `delivered by ${channel === 'sms' ? 'SMS' : channel}`, x);
  rate('outreach outcome', 'kept an appointment within 30 days', r.outreachOutcome.value);
  for (const [kind, t] of Object.entries(r.careTeam.value.turnaroundDays))
    rows.push({
      figure: 'care-team turnaround',
      part: `${kind} (median / p90 days, n=${t.completed})`,
      value: `${t.median ?? 'n/a'} / ${t.p90 ?? 'n/a'}`,
    });
  rate('care-team efficiency', 'closed by a person (vs cancelled by fhir-engage)', r.careTeam.value.closedByPerson);
  for (const [owner, n] of Object.entries(r.careTeam.value.openByOwner))
    rows.push({ figure: 'care-team workload', part: `open Tasks, ${owner}`, value: String(n) });
  for (const [t, n] of Object.entries(r.tierMovement.value.transitions))
    rows.push({ figure: 'tier movement', part: t, value: String(n) });
  rows.push({
    figure: 'tier movement',
    part: 'improved / worsened / unchanged',
    value:
      r.tierMovement.value.improved === null
        ? 'n/a (no baseline in the period)'
        : `${r.tierMovement.value.improved} / ${r.tierMovement.value.worsened} / ${r.tierMovement.value.unchanged}`,
  });
  rate('clinical outcome', 'PHQ-9 response among elevated baselines', r.clinicalOutcome.value.response);
  rate('clinical outcome', 'PHQ-9 remission among elevated baselines', r.clinicalOutcome.value.remission);
  for (const [instrument, x] of Object.entries(r.surveyResponse.value)) rate('survey response rate', instrument, x);
  const s = r.satisfaction.value;
  rows.push({
    figure: 'satisfaction',
    part: `mean likelihood to recommend (n=${s.responses})`,
    value: String(s.meanRecommend ?? 'n/a'),
  });
  rows.push({ figure: 'satisfaction', part: 'NPS', value: String(s.nps ?? 'n/a') });
  rows.push({ figure: 'satisfaction', part: 'mean experience (1-5)', value: String(s.meanExperience ?? 'n/a') });
  rate('satisfaction', 'response rate', s.responseRate);
  return rows;
}

export const CSV_HEADER = [
  'scope',
  'programme',
  'from',
  'to',
  'figure',
  'part',
  'value',
  'numerator',
  'denominator',
].join(',');
const csvCell = (v: unknown): string =>
  v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v);

/** The report and then each programme's, as (programme label, figures) pairs: "all" first. */
const sections = (r: ProgrammeReport): [string, Omit<ProgrammeReport, 'programmes'>][] => [
  ['all', r],
  ...(r.programmes ?? []).map((p): [string, Omit<ProgrammeReport, 'programmes'>] => [
    `${p.sourceId}/${p.id}`,
    p.report,
  ]),
];

function markdownTable(r: Omit<ProgrammeReport, 'programmes'>): string[] {
  const lines = ['| figure | part | value | counts |', '|---|---|---|---|'];
  for (const x of reportRows(r))
    lines.push(
      `| ${x.figure} | ${x.part} | ${x.value} | ${x.denominator !== undefined ? `${x.numerator} / ${x.denominator}` : ''} |`,
    );
  return lines;
}

export function formatReport(r: ProgrammeReport, format: string, scope: string): string {
  if (format === 'json') return `${JSON.stringify({ scope, ...r }, null, 2)}\n`;
  const [from, to] = [r.period.from.slice(0, 10), r.period.to.slice(0, 10)];
  if (format === 'csv')
    return `${sections(r)
      .flatMap(([programme, figures]) =>
        reportRows(figures).map((x) =>
          [scope, programme, from, to, x.figure, x.part, x.value, x.numerator, x.denominator].map(csvCell).join(','),
        ),
      )
      .join('\n')}\n`;
  const lines = [
    `# Programme report: ${scope}`,
    '',
    `Period: ${from} to ${to} (end exclusive); ${r.patients} patients.`,
    '',
    ...markdownTable(r),
  ];
  for (const p of r.programmes ?? [])
    lines.push(
      '',
      `## Programme: ${p.name} (${p.sourceId}/${p.id})`,
      '',
      `${p.report.patients} patients enrolled at some time in the period.`,
      '',
      ...markdownTable(p.report),
    );
  lines.push('', '## Definitions', '');
  for (const [name, f] of Object.entries(r))
    if (f && typeof f === 'object' && 'definition' in f)
      lines.push(`- **${name}**: ${(f as { definition: string }).definition}`);
  lines.push(
    '- **programmes**: every figure again over the patients of each programme (those enrolled in it at some time in the period).',
  );
  return `${lines.join('\n')}\n`;
}
