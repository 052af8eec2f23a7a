/**
 * The care team's worklist: open Tasks by urgency (safety first), who to call and why, filtered by
 * section, tier, owner and programme, each Task worked from its row (task-actions.ts), searched by name, MRN or birth date (sent in a request body, never in the
 * address bar), a page at a time, and the page as CSV.
 */
import { post, postText } from '../api';
import type { Worklist } from '../../../src/api/schemas/worklist';
import { h, table, when } from '../dom';
import { openPatient } from './patient';
import { workButton } from './task-actions';

const KINDS: [string, string][] = [
  ['safety', 'Safety flags'],
  ['reply', 'Patients who replied'],
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
  owner: string;
  programme: string;
  search: string;
  page: number;
}

function sectionTable(label: string, rows: Worklist['rows'], refresh: () => Promise<void>): HTMLElement {
  return table(
    label,
    ['patient', 'age', 'phone', 'why', 'since', 'due', 'owner', 'status', 'act'],
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
      r.due ? when(r.due) : r.kind === 'safety' ? 'today' : '—',
      r.owner ?? 'unassigned',
      r.status ?? '',
      r.taskId
        ? workButton(
            {
              sourceId: r.sourceId,
              patientId: r.patientId,
              taskId: r.taskId,
              status: r.status,
              owner: r.owner,
              label: `${r.name ?? r.patientId}: ${r.why}`,
            },
            refresh,
          )
        : 'not in the EMR yet',
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
  ...(s.owner ? { owner: s.owner } : {}),
  ...(s.programme ? { programme: s.programme } : {}),
  ...(s.search ? { search: s.search } : {}),
  page: s.page,
  pageSize: PAGE_SIZE,
});

const choice = (id: string, value: string, options: [string, string][], on: (v: string) => void) => {
  const el: HTMLSelectElement = h(
    'select',
    { id, onchange: () => on(el.value) },
    options.map(([v, label]) => h('option', { value: v, ...(v === value ? { selected: true } : {}) }, label)),
  );
  return el;
};

/** Search by name, MRN or birth date (in the request body), and the tier, owner and programme filters. */
function filterForm(state: State, data: Worklist, rerender: (next: Partial<State>) => void): HTMLElement {
  const search = h('input', { id: 'wl-search', autocomplete: 'off', spellcheck: 'false', value: state.search });
  const tier = choice(
    'wl-tier',
    state.tier,
    ['', 'engaged', 'at-risk', 'disengaged', 'unknown'].map((t): [string, string] => [t, t || 'any tier']),
    (v) => rerender({ tier: v }),
  );
  const owner = choice(
    'wl-owner',
    state.owner,
    [['', 'anyone'], ['unassigned', 'unassigned'], ...data.owners.map((o): [string, string] => [o, o])],
    (v) => rerender({ owner: v }),
  );
  const programme = choice(
    'wl-programme',
    state.programme,
    [['', 'any programme'], ...data.programmes.map((p): [string, string] => [p, p])],
    (v) => rerender({ programme: v }),
  );
  return h(
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
    h('label', { for: 'wl-owner' }, ' Owner '),
    owner,
    h('label', { for: 'wl-programme' }, ' Programme '),
    programme,
  );
}

function pager(main: HTMLElement, state: State, data: Worklist): HTMLElement {
  return h(
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
  );
}

export async function worklistView(
  main: HTMLElement,
  state: State = { kind: '', tier: '', owner: '', programme: '', search: '', page: 1 },
): Promise<void> {
  const data = await post<Worklist>('/worklist/search', filters(state));
  const rerender = (next: Partial<State>): void => void worklistView(main, { ...state, page: 1, ...next });
  const refresh = (): Promise<void> => worklistView(main, state);
  const sections = KINDS.map(([kind, label]) => [label, data.rows.filter((r) => r.kind === kind)] as const).filter(
    ([, rows]) => rows.length > 0,
  );
  main.replaceChildren(
    h('h1', {}, 'Worklist'),
    h(
      'p',
      {},
      'Open fhir-engage Tasks a person acts on, the most urgent first: safety flags, then outreach, follow-ups, overdue care-plan activities, surveys, and patients who cannot be reminded. “Work on it” claims, assigns, completes or cancels a Task in the EMR, or logs a call.',
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
    filterForm(state, data, rerender),
    ...(sections.length
      ? sections.map(([label, rows]) => sectionTable(label, rows, refresh))
      : [h('p', { 'data-testid': 'worklist-empty' }, 'Nothing to do here.')]),
    pager(main, state, data),
  );
}
