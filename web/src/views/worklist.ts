/**
 * The care team's worklist: open Tasks by urgency (safety first), who to call and why, filtered by
 * section and tier, searched by name, MRN or birth date (sent in a request body, never in the
 * address bar), a page at a time, and the page as CSV.
 */
import { post, postText } from '../api';
import type { Worklist } from '../../../src/api/schemas/worklist';
import { h, table, when } from '../dom';
import { openPatient } from './patient';

const KINDS: [string, string][] = [
  ['safety', 'Safety flags'],
  ['outreach', 'Outreach due'],
  ['follow-up', 'Follow-ups due'],
  ['overdue-activity', 'Overdue care-plan activities'],
  ['survey', 'Surveys open'],
  ['no-channel', 'Cannot be reminded'],
];
const PAGE_SIZE = 50;

interface State {
  kind: string;
  tier: string;
  search: string;
  page: number;
}

function sectionTable(label: string, rows: Worklist['rows']): HTMLElement {
  return table(
    label,
    ['patient', 'age', 'phone', 'why', 'since', 'due', 'owner'],
    rows.map((r) => [
      h(
        'button',
        { type: 'button', class: 'link', onclick: () => openPatient(r.patientId, r.sourceId) },
        r.name ?? r.patientId,
      ),
      r.age ?? '',
      r.phone ?? 'none on file',
      r.why,
      r.since ? when(r.since) : '',
      r.due ? when(r.due) : 'now',
      r.owner ?? 'unassigned',
    ]),
    { 'data-testid': `worklist-${rows[0]?.kind ?? 'none'}` },
  );
}

/** The page as CSV, saved by the browser (the search stays in the request body). */
async function downloadCsv(state: State): Promise<void> {
  const csv = await postText('/worklist/search', { ...filters(state), format: 'csv' });
  const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
  const a = h('a', { href: url, download: 'worklist.csv' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const filters = (s: State): Record<string, unknown> => ({
  ...(s.kind ? { kind: s.kind } : {}),
  ...(s.tier ? { tier: s.tier } : {}),
  ...(s.search ? { search: s.search } : {}),
  page: s.page,
  pageSize: PAGE_SIZE,
});

export async function worklistView(
  main: HTMLElement,
  state: State = { kind: '', tier: '', search: '', page: 1 },
): Promise<void> {
  const data = await post<Worklist>('/worklist/search', filters(state));
  const rerender = (next: Partial<State>): void => void worklistView(main, { ...state, page: 1, ...next });
  const search = h('input', { id: 'wl-search', autocomplete: 'off', spellcheck: 'false', value: state.search });
  const tier = h(
    'select',
    { id: 'wl-tier', onchange: () => rerender({ tier: tier.value }) },
    ['', 'engaged', 'at-risk', 'disengaged', 'unknown'].map((t) =>
      h('option', { value: t, ...(t === state.tier ? { selected: true } : {}) }, t || 'any tier'),
    ),
  );
  const sections = KINDS.map(([kind, label]) => [label, data.rows.filter((r) => r.kind === kind)] as const).filter(
    ([, rows]) => rows.length > 0,
  );
  main.replaceChildren(
    h('h1', {}, 'Worklist'),
    h(
      'p',
      {},
      'Open fhir-engage Tasks a person acts on, the most urgent first: safety flags, then outreach, follow-ups, overdue care-plan activities, surveys, and patients who cannot be reminded.',
    ),
    h(
      'p',
      { class: 'actions', 'data-testid': 'worklist-counts' },
      h('button', { type: 'button', class: state.kind ? 'link' : '', onclick: () => rerender({ kind: '' }) }, 'All'),
      KINDS.map(([kind, label]) =>
        h(
          'button',
          { type: 'button', class: state.kind === kind ? '' : 'link', onclick: () => rerender({ kind }) },
          `${label} (${data.counts[kind] ?? 0})`,
        ),
      ),
    ),
    h(
      'form',
      {
        class: 'filters',
        onsubmit: (e: Event) => {
          e.preventDefault();
          rerender({ search: search.value.trim() });
        },
      },
      h('label', { for: 'wl-search' }, 'Name, MRN or birth date '),
      search,
      h('button', { type: 'submit' }, 'Search'),
      h('label', { for: 'wl-tier' }, ' Tier '),
      tier,
    ),
    ...(sections.length
      ? sections.map(([label, rows]) => sectionTable(label, rows))
      : [h('p', { 'data-testid': 'worklist-empty' }, 'Nothing to do here.')]),
    h(
      'p',
      { class: 'actions' },
      `${data.total} Task(s); page ${data.page} of ${Math.max(1, Math.ceil(data.total / PAGE_SIZE))} `,
      h(
        'button',
        {
          type: 'button',
          disabled: state.page <= 1,
          onclick: () => void worklistView(main, { ...state, page: state.page - 1 }),
        },
        'Previous',
      ),
      h(
        'button',
        {
          type: 'button',
          disabled: state.page * PAGE_SIZE >= data.total,
          onclick: () => void worklistView(main, { ...state, page: state.page + 1 }),
        },
        'Next',
      ),
      h('button', { type: 'button', onclick: () => void downloadCsv(state) }, 'Download this page as CSV'),
    ),
  );
}
