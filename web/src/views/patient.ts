/**
 * One patient, reached by id or by the EMR's identifier (searched in a
 * request body). Neither appears in the address bar or the browser history:
 * the route is always #/patient.
 */
import { get, post } from '../api';
import { lineChart } from '../charts';
import type { PatientMatches, PatientOverview } from '../../../src/api/schemas/patients';
import { h, pct, table, when } from '../dom';
import { careTeamSection } from './patient-care';

type Overview = PatientOverview;

/** Who the patient is: name (the EMR id beside it), age, sex, phone, language, programmes. */
function headerOf(o: Overview): HTMLElement[] {
  return [
    h(
      'h2',
      { 'data-testid': 'patient-name' },
      o.patient.name ?? `Patient ${o.patientId}`,
      h('small', {}, ` (${o.patientId}, ${o.sourceId}, as of ${when(o.asOf)})`),
    ),
    h(
      'p',
      { 'data-testid': 'patient-header' },
      [
        o.patient.age !== null ? `${o.patient.age} years` : 'age unknown',
        o.patient.sex ?? 'sex unknown',
        o.patient.phone ? `phone ${o.patient.phone}` : 'no phone on file',
        o.patient.language ? `prefers ${o.patient.language}` : 'no preferred language',
        o.patient.programmes.length ? `programmes: ${o.patient.programmes.join(', ')}` : 'in no programme',
      ].join(' · '),
    ),
  ];
}

async function show(out: HTMLElement, patientId: string, sourceId?: string): Promise<void> {
  const o = await get<Overview>(
    `/patients/${encodeURIComponent(patientId)}/overview${sourceId ? `?source=${encodeURIComponent(sourceId)}` : ''}`,
  );
  out.replaceChildren(
    ...(o.safety.flagged
      ? [
          h(
            'div',
            { class: 'safety-banner', role: 'alert', 'data-testid': 'safety-banner' },
            h('strong', {}, 'Safety flag: '),
            `${o.safety.reasons.join('; ')}. Act on this first, whatever the engagement tier: a positive PHQ-9 item 9 needs a same-day clinical assessment.`,
          ),
        ]
      : []),
    ...headerOf(o),
    h(
      'p',
      {},
      'Tier: ',
      h('strong', { class: `tier tier-${o.tier}`, 'data-testid': 'tier' }, o.tier),
      o.score !== null ? ` (score ${o.score})` : '',
    ),
    h('p', { class: 'why' }, h('span', { class: 'visually-hidden' }, 'Why this tier: '), o.why),
    h(
      'p',
      {},
      `Adherence ${pct(o.figures.adherence)}; no-show rate ${pct(o.figures.noShowRate)}; care-plan completion ${pct(o.figures.carePlanCompletion)}; ` +
        `PHQ-9 ${o.figures.phq9 ? `${o.figures.phq9.total} (${o.figures.phq9.band})` : 'none'}; GAD-7 ${o.figures.gad7 ? `${o.figures.gad7.total} (${o.figures.gad7.band})` : 'none'}; ` +
        `likelihood to recommend ${o.figures.satisfaction?.recommend ?? 'n/a'}`,
    ),
    h(
      'div',
      { class: 'grid' },
      lineChart('PHQ-9 total score', [{ label: 'PHQ-9', points: o.charts.phq9.points }], {
        bands: o.charts.phq9.bands,
        max: o.charts.phq9.max,
        testId: 'phq9-chart',
      }),
      lineChart('GAD-7 total score', [{ label: 'GAD-7', points: o.charts.gad7.points }], {
        bands: o.charts.gad7.bands,
        max: o.charts.gad7.max,
        testId: 'gad7-chart',
      }),
      lineChart('Appointment adherence', [{ label: 'adherence', points: o.charts.adherence }], {
        max: 1,
        percent: true,
      }),
      lineChart('Likelihood to recommend (0–10)', [{ label: 'recommend', points: o.charts.satisfaction }], { max: 10 }),
    ),
    table(
      'Upcoming appointments',
      ['when', 'status', 'reminders'],
      o.upcoming.map((a) => [
        when(a.start),
        a.status,
        a.reminders.length
          ? a.reminders.map((r) => `${r.state}${r.status ? ` (${r.status})` : ''}`).join(', ')
          : 'none',
      ]),
    ),
    ...(await careTeamSection(o, () => show(out, patientId, o.sourceId))),
  );
}

/** A patient to open when the view renders (from another view: the id never goes into the address bar). */
let pending: { patientId: string; sourceId?: string } | undefined;

export function openPatient(patientId: string, sourceId?: string): void {
  pending = { patientId, ...(sourceId ? { sourceId } : {}) };
  location.hash = '#/patient';
}

export function patientView(main: HTMLElement): void {
  const out = h('div', { id: 'patient-out' });
  const idInput = h('input', { id: 'pt-id', autocomplete: 'off', spellcheck: 'false' });
  const identInput = h('input', {
    id: 'pt-ident',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'system|value or value',
  });
  const fail = (err: unknown): void =>
    void out.replaceChildren(h('p', { class: 'error', role: 'alert' }, (err as Error).message));
  main.replaceChildren(
    h('h1', {}, 'Patient'),
    h(
      'p',
      {},
      'Open a patient by the id the EMR gives the record, or find them by an identifier such as the MRN. Nothing you type goes into the address bar.',
    ),
    h(
      'form',
      {
        class: 'filters',
        onsubmit: (e: Event) => {
          e.preventDefault();
          if (idInput.value.trim()) show(out, idInput.value.trim()).catch(fail);
        },
      },
      h('label', { for: 'pt-id' }, 'Patient id '),
      idInput,
      h('button', { type: 'submit' }, 'Open'),
    ),
    h(
      'form',
      {
        class: 'filters',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            const { matches } = await post<PatientMatches>('/patients/search', {
              identifier: identInput.value,
            });
            if (matches.length === 1) return void (await show(out, matches[0]!.patientId, matches[0]!.sourceId));
            out.replaceChildren(
              matches.length === 0
                ? h('p', {}, 'No stored patient has this identifier.')
                : h(
                    'ul',
                    {},
                    matches.map((m) =>
                      h(
                        'li',
                        {},
                        h(
                          'button',
                          {
                            type: 'button',
                            class: 'link',
                            onclick: () => void show(out, m.patientId, m.sourceId).catch(fail),
                          },
                          `${m.patientId} (${m.sourceId})`,
                        ),
                      ),
                    ),
                  ),
            );
          } catch (err) {
            fail(err);
          }
        },
      },
      h('label', { for: 'pt-ident' }, 'Identifier '),
      identInput,
      h('button', { type: 'submit' }, 'Find'),
    ),
    out,
  );
  openPending(out, fail);
}

function openPending(out: HTMLElement, fail: (err: unknown) => void): void {
  if (!pending) return;
  const { patientId, sourceId } = pending;
  pending = undefined;
  show(out, patientId, sourceId).catch(fail);
}
