/**
 * The run history for the integration engineer: every run, newest first, filtered by source and
 * status, a page at a time, each with what it pulled and wrote and a link to its details.
 */
import { get } from '../api';
import type { RunsResponse } from '../../../src/api/schemas/runs';
import type { SourcesResponse } from '../../../src/api/schemas/sources';
import { h, secs, table, when } from '../dom';

const PAGE = 25;
const STATUSES = ['succeeded', 'partially-failed', 'failed', 'interrupted', 'running'];

interface Filter {
  source: string;
  status: string;
  offset: number;
}

interface Counts {
  durationMs?: number;
  pull?: { new?: number; changed?: number }[];
  writes?: Record<
    string,
    { created?: number; updated?: number; cancelled?: number; completed?: number; failed?: number }
  >;
  deadLetters?: { thisRun?: number };
}

function summary(counts: Counts): { received: string; wrote: string; failed: number } {
  const pulled = (counts.pull ?? []).reduce((n, t) => n + (t.new ?? 0) + (t.changed ?? 0), 0);
  const writes = Object.values(counts.writes ?? {});
  const wrote = writes.reduce(
    (n, w) => n + (w.created ?? 0) + (w.updated ?? 0) + (w.cancelled ?? 0) + (w.completed ?? 0),
    0,
  );
  return {
    received: `${pulled} new or changed`,
    wrote: String(wrote),
    failed: writes.reduce((n, w) => n + (w.failed ?? 0), 0),
  };
}

/** The runs of a page, or that none matches. */
function runsTable(runs: RunsResponse['runs']): HTMLElement {
  return runs.length === 0
    ? h('p', { 'data-testid': 'runs-none' }, 'No run matches.')
    : table(
        'Runs, newest first',
        ['started', 'source', 'status', 'took', 'pulled', 'written', 'failed writes', ''],
        runs.map((r) => {
          const s = summary(r.counts as Counts);
          return [
            when(r.startedAt),
            r.sourceId,
            h('span', { class: `status status-${r.status}` }, r.status),
            secs((r.counts as Counts).durationMs),
            s.received,
            s.wrote,
            s.failed,
            h(
              'a',
              {
                href: `#/runs/${encodeURIComponent(r.id)}`,
                'aria-label': `Details of the run of ${when(r.startedAt)}`,
              },
              'details',
            ),
          ];
        }),
        { 'data-testid': 'runs' },
      );
}

export async function runsView(
  main: HTMLElement,
  filter: Filter = { source: '', status: '', offset: 0 },
): Promise<void> {
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(filter.offset) });
  if (filter.source) params.set('source', filter.source);
  if (filter.status) params.set('status', filter.status);
  const [{ runs }, { sources }] = await Promise.all([
    get<RunsResponse>(`/runs?${params.toString()}`),
    get<SourcesResponse>('/sources'),
  ]);
  const show = (next: Partial<Filter>): void => void runsView(main, { ...filter, offset: 0, ...next });
  const source = h(
    'select',
    { id: 'runs-source', onchange: () => show({ source: source.value }) },
    ['', ...sources.map((s) => s.id)].map((id) =>
      h('option', { value: id, ...(id === filter.source ? { selected: true } : {}) }, id || 'every source'),
    ),
  );
  const status = h(
    'select',
    { id: 'runs-status', onchange: () => show({ status: status.value }) },
    ['', ...STATUSES].map((s) =>
      h('option', { value: s, ...(s === filter.status ? { selected: true } : {}) }, s || 'any status'),
    ),
  );
  main.replaceChildren(
    h('h1', {}, 'Runs'),
    h(
      'p',
      { class: 'filters' },
      h('label', { for: 'runs-source' }, 'Source '),
      source,
      h('label', { for: 'runs-status' }, ' Status '),
      status,
    ),
    runsTable(runs),
    h(
      'p',
      { class: 'actions' },
      h(
        'button',
        {
          type: 'button',
          disabled: filter.offset === 0,
          onclick: () => void runsView(main, { ...filter, offset: Math.max(0, filter.offset - PAGE) }),
        },
        'Newer',
      ),
      h(
        'button',
        {
          type: 'button',
          disabled: runs.length < PAGE,
          onclick: () => void runsView(main, { ...filter, offset: filter.offset + PAGE }),
        },
        'Older',
      ),
    ),
  );
}
