/** The programme, for care managers: every figure the programme layer computes over a chosen period, with its definition. */
import { get, text } from '../api';
import type { RunsResponse } from '../../../src/api/schemas/runs';
import type { ProgrammeHistoryEntry, ProgrammePeriodResponse, Rate } from '../../../src/api/schemas/programme';
import { barChart, lineChart } from '../charts';
import { defined, h, pct, pp, table } from '../dom';
import { listTier } from './patients';

type History = ProgrammeHistoryEntry;

const TIERS = ['engaged', 'at-risk', 'disengaged', 'unknown'] as const;
const ratio = (r: Rate): string =>
  `${pct(r.rate)} (${r.numerator} of ${r.denominator})${r.tooFew ? ', too few to judge' : ''}`;
const interval = (i: { low: number; high: number } | null | undefined, unit: (x: number) => string): string =>
  i ? ` (95 % CI ${unit(i.low)} to ${unit(i.high)})` : '';
const isoDay = (d: Date): string => d.toISOString().slice(0, 10);

function card(title: string, definition: string, ...body: (Node | string)[]): HTMLElement {
  return h('section', { class: 'card figure' }, h('h2', {}, defined(title, definition)), ...body);
}

const DAY_MS = 86_400_000;

/**
 * The 30 days up to and including the day of the latest run's as-of (the end is exclusive: the next
 * midnight, UTC). A store computed at another instant than today (a back-computation, a simulated
 * clinic) opens on its own figures, not on a month it holds nothing of.
 */
async function defaultPeriod(): Promise<{ from: Date; to: Date }> {
  const { runs } = await get<RunsResponse>('/runs?limit=1');
  const asOf = runs[0] ? new Date(runs[0].asOf) : new Date();
  const to = new Date(Date.UTC(asOf.getUTCFullYear(), asOf.getUTCMonth(), asOf.getUTCDate() + 1));
  return { from: new Date(to.getTime() - 30 * DAY_MS), to };
}

type Period = { from: Date; to: Date };

export async function programmeView(main: HTMLElement, period?: { from: string; to: string }): Promise<void> {
  const { from, to } = period ? { from: new Date(period.from), to: new Date(period.to) } : await defaultPeriod();
  const data = await get<ProgrammePeriodResponse>(
    `/programme?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`,
  );
  const r = data.report;
  const s = data.summary;
  main.replaceChildren(
    h('h1', {}, 'Programme'),
    periodForm(main, { from, to }),
    h(
      'p',
      {},
      `${s.patients} patients; period ${isoDay(new Date(r.period.from))} to ${isoDay(new Date(r.period.to))} (end exclusive).`,
    ),
    h('div', { class: 'grid' }, ...trendCards(data), ...figureCards(r)),
  );
}

/** The period chosen (shown again on submit) and the report downloaded in a format. */
function periodForm(main: HTMLElement, { from, to }: Period): HTMLElement {
  const fromInput = h('input', { type: 'date', id: 'p-from', value: isoDay(from), required: true });
  const toInput = h('input', { type: 'date', id: 'p-to', value: isoDay(to), required: true });
  const format = h(
    'select',
    { id: 'p-format' },
    h('option', { value: 'md' }, 'Markdown'),
    h('option', { value: 'csv' }, 'CSV'),
    h('option', { value: 'json' }, 'JSON'),
  );
  const download = async (): Promise<void> => {
    const body = await text(
      `/programme/report?format=${format.value}&from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`,
    );
    const url = URL.createObjectURL(new Blob([body], { type: 'text/plain' }));
    const a = h('a', { href: url, download: `programme-report-${isoDay(from)}-${isoDay(to)}.${format.value}` });
    document.body.append(a);
    a.click();
    a.remove();
    URL.revokeObjectURL(url);
  };
  return h(
    'form',
    {
      class: 'filters',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void programmeView(main, {
          from: new Date(`${fromInput.value}T00:00:00Z`).toISOString(),
          to: new Date(`${toInput.value}T00:00:00Z`).toISOString(),
        });
      },
    },
    h('label', { for: 'p-from' }, 'From '),
    fromInput,
    h('label', { for: 'p-to' }, ' to '),
    toInput,
    h('button', { type: 'submit' }, 'Show'),
    h('span', { class: 'spacer' }),
    h('label', { for: 'p-format' }, 'Report '),
    format,
    h('button', { type: 'button', class: 'secondary', onclick: () => void download() }, 'Download report'),
  );
}

/** Tiers now and over time, adherence and no-shows over time (from the programme history). */
function trendCards(data: ProgrammePeriodResponse): HTMLElement[] {
  const r = data.report;
  const s = data.summary;
  const history = data.history.filter((x) => x.figures.summary);
  const over = (pick: (x: History) => number | null | undefined): { date: string; value: number }[] =>
    history
      .map((x) => ({ date: x.asOf, value: pick(x) }))
      .filter((p): p is { date: string; value: number } => typeof p.value === 'number');
  return [
    card(
      'Tier distribution',
      'Current engagement tier of every patient (docs/indicators.md: engagement score and tiers).',
      barChart(
        'Patients by tier, now',
        [...TIERS],
        TIERS.map((t) => s.tiers[t] ?? 0),
        'tier-chart',
      ),
      h(
        'p',
        { 'data-testid': 'tier-lists' },
        'List the patients: ',
        TIERS.flatMap((t, i) => [
          i > 0 ? ', ' : '',
          h('button', { type: 'button', class: 'link', onclick: () => listTier(t) }, `${t} (${s.tiers[t] ?? 0})`),
        ]),
      ),
    ),
    card(
      'Tiers over time',
      'Tier counts recorded by each day’s sync (programme history).',
      lineChart(
        'Patients per tier by day',
        TIERS.slice(0, 3).map((t) => ({ label: t, points: over((x) => x.figures.summary?.tiers?.[t]) })),
        { testId: 'tier-history' },
      ),
      table(
        'Tier movement in the period',
        ['from → to', 'patients'],
        Object.entries(r.tierMovement.value.transitions).map(([k, v]) => [k, v]),
      ),
      h(
        'p',
        {},
        r.tierMovement.value.improved === null
          ? 'Improved / worsened: n/a (no patient had a tier at the start of the period).'
          : `Improved ${r.tierMovement.value.improved}, worsened ${r.tierMovement.value.worsened}, unchanged ${r.tierMovement.value.unchanged}.`,
      ),
    ),
    card(
      'Adherence and no-shows over time',
      'Median of patients’ appointment adherence (kept / kept + no-show) and no-show rate, as recorded by each day’s sync.',
      lineChart(
        'Median adherence and no-show rate',
        [
          { label: 'adherence', points: over((x) => x.figures.summary?.medianAdherence) },
          { label: 'no-show rate', points: over((x) => x.figures.summary?.medianNoShowRate) },
        ],
        { max: 1, percent: true },
      ),
      h('p', {}, `Now: median adherence ${pct(s.medianAdherence)}, median no-show rate ${pct(s.medianNoShowRate)}.`),
    ),
  ];
}

/** Enrolment of each programme (every figure per programme is in the downloaded report). */
function programmeCards(r: ProgrammePeriodResponse['report']): HTMLElement[] {
  if (!r.enrolment || !r.programmes?.length) return [];
  return [
    card(
      'Programmes',
      `${r.enrolment.definition} Each programme's figures are over the patients enrolled in it at some time in the period (the downloaded report has every figure per programme).`,
      table(
        'Enrolment per programme',
        ['programme', 'patients', 'enrolled at end', 'new', 'left'],
        r.programmes.map((p) => [
          `${p.name} (${p.sourceId})`,
          p.report.patients,
          p.report.enrolment.value.enrolled,
          p.report.enrolment.value.started,
          p.report.enrolment.value.ended,
        ]),
        { 'data-testid': 'programmes' },
      ),
      h(
        'p',
        {},
        `Over all programmes: ${r.enrolment.value.enrolled} enrolled at the end of the period, ${r.enrolment.value.started} new enrolments, ${r.enrolment.value.ended} disenrolments.`,
      ),
    ),
  ];
}

/** Every programme figure of the period, each with its definition. */
/** Reminders fhir-engage sent itself, delivered per channel (only when it sends them: docs/messaging.md). */
function deliveryCard(r: ProgrammePeriodResponse['report']): HTMLElement[] {
  if (!r.delivery) return [];
  const text = Object.entries(r.delivery.value)
    .map(([channel, x]) => `${channel === 'sms' ? 'SMS' : channel} ${ratio(x)}`)
    .join('; ');
  return [
    card('Reminder delivery', r.delivery.definition, h('p', { 'data-testid': 'delivery' }, text || 'No data yet.')),
  ];
}

function figureCards(r: ProgrammePeriodResponse['report']): HTMLElement[] {
  return [
    ...programmeCards(r),
    card(
      'Reminder effect',
      r.reminderEffect.definition,
      h(
        'p',
        {},
        `Attendance with a reminder ${ratio(r.reminderEffect.value.withReminder)}${interval(r.reminderEffect.value.withReminder.ci, pct)}; without ${ratio(r.reminderEffect.value.withoutReminder)}${interval(r.reminderEffect.value.withoutReminder.ci, pct)}; difference ${pp(r.reminderEffect.value.difference)}${interval(r.reminderEffect.value.differenceCi, pp)}.`,
      ),
    ),
    ...deliveryCard(r),
    card('Outreach outcome', r.outreachOutcome.definition, h('p', {}, ratio(r.outreachOutcome.value))),
    card(
      'Survey response rates',
      r.surveyResponse.definition,
      table(
        'By instrument',
        ['instrument', 'response rate'],
        Object.entries(r.surveyResponse.value).map(([k, v]) => [k, ratio(v)]),
      ),
    ),
    card(
      'Satisfaction and NPS',
      r.satisfaction.definition,
      h('p', { 'data-testid': 'nps' }, `NPS ${r.satisfaction.value.nps ?? 'n/a'}`),
      h(
        'p',
        {},
        `Mean likelihood to recommend ${r.satisfaction.value.meanRecommend ?? 'n/a'} (n=${r.satisfaction.value.responses}); mean experience ${r.satisfaction.value.meanExperience ?? 'n/a'}; response rate ${ratio(r.satisfaction.value.responseRate)}.`,
      ),
    ),
    card(
      'PHQ-9 response and remission',
      r.clinicalOutcome.definition,
      h(
        'p',
        {},
        `Among ${r.clinicalOutcome.value.withElevatedBaseline} patients with an elevated baseline: response ${ratio(r.clinicalOutcome.value.response)}, remission ${ratio(r.clinicalOutcome.value.remission)}.`,
      ),
    ),
    card(
      'Care-team workload',
      r.careTeam.definition,
      table(
        'Open Tasks by owner',
        ['owner', 'open'],
        Object.entries(r.careTeam.value.openByOwner).map(([k, v]) => [k, v]),
      ),
      table(
        'Turnaround (days)',
        ['kind', 'completed', 'median', 'p90'],
        Object.entries(r.careTeam.value.turnaroundDays).map(([k, t]) => [
          k,
          t.completed,
          t.median === null || t.median === undefined ? 'n/a' : t.median.toFixed(1),
          t.p90 === null || t.p90 === undefined ? 'n/a' : t.p90.toFixed(1),
        ]),
      ),
      h(
        'p',
        {},
        `Closed by a person ${ratio(r.careTeam.value.closedByPerson)}; cancelled by fhir-engage ${r.careTeam.value.cancelledByFhirEngage}.`,
      ),
    ),
  ];
}
