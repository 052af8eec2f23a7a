/**
 * The patient list, reachable from the tier chart: every computed patient, the least engaged first,
 * by tier, a page at a time; a name opens the patient (their id stays out of the address bar).
 */
import { get } from '../api';
import type { PatientList } from '../../../src/api/schemas/patient-list';
import { h, table } from '../dom';
import { openPatient } from './patient';

const PAGE = 50;
const TIERS = ['', 'disengaged', 'at-risk', 'engaged', 'unknown'];

/** A tier to list when the view opens next (from the tier chart). */
let pendingTier = '';

export function listTier(tier: string): void {
  pendingTier = tier;
  location.hash = '#/patients';
}

export async function patientsView(main: HTMLElement, tier = pendingTier, page = 1): Promise<void> {
  pendingTier = '';
  const params = new URLSearchParams({ page: String(page), limit: String(PAGE) });
  if (tier) params.set('tier', tier);
  const data = await get<PatientList>(`/patients?${params.toString()}`);
  const select = h(
    'select',
    { id: 'pl-tier', onchange: () => void patientsView(main, select.value, 1) },
    TIERS.map((t) => h('option', { value: t, ...(t === tier ? { selected: true } : {}) }, t || 'every tier')),
  );
  main.replaceChildren(
    h('h1', {}, 'Patients'),
    h('p', { class: 'filters' }, h('label', { for: 'pl-tier' }, 'Tier '), select),
    data.patients.length === 0
      ? h('p', {}, 'No patient in this tier.')
      : table(
          `Patients${tier ? ` (${tier})` : ''}, the least engaged first: ${data.total}`,
          ['patient', 'age', 'tier', 'score', 'last contact', 'open Tasks', 'safety'],
          data.patients.map((p) => [
            h(
              'button',
              { type: 'button', class: 'link', onclick: () => openPatient(p.patientId, p.sourceId) },
              p.name ?? p.patientId,
            ),
            p.age ?? '',
            h('span', { class: `tier tier-${p.tier}` }, p.tier),
            p.score ?? 'n/a',
            p.lastContactDays === null ? 'never' : `${p.lastContactDays} days ago`,
            p.openTasks,
            p.safety ? h('strong', { class: 'error' }, 'SAFETY FLAG') : '',
          ]),
          { 'data-testid': 'patient-list' },
        ),
    h(
      'p',
      { class: 'actions' },
      h(
        'button',
        { type: 'button', disabled: page <= 1, onclick: () => void patientsView(main, tier, page - 1) },
        'Previous',
      ),
      h(
        'button',
        { type: 'button', disabled: page * PAGE >= data.total, onclick: () => void patientsView(main, tier, page + 1) },
        'Next',
      ),
    ),
  );
}
