/** Dead letters: what could not be processed and why, filterable; retry one after a fix, or dismiss it with a reason. */
import { get, post } from '../api';
import type { DeadLetter, DeadLettersResponse, RetryDone } from '../../../src/api/schemas/operations';
import type { SourcesResponse } from '../../../src/api/schemas/sources';
import { announce, h, table, when } from '../dom';

const STAGES = ['', 'pull', 'validate', 'map', 'indicators', 'actions', 'write'];

type Filter = { source?: string; type?: string; stage?: string };

export async function deadLettersView(main: HTMLElement, filter: Filter = {}): Promise<void> {
  const params = new URLSearchParams({ limit: '200' });
  if (filter.source) params.set('source', filter.source);
  if (filter.type) params.set('type', filter.type);
  if (filter.stage) params.set('stage', filter.stage);
  const [{ deadLetters }, { sources }] = await Promise.all([
    get<DeadLettersResponse>(`/dead-letters?${params}`),
    get<SourcesResponse>('/sources'),
  ]);
  const form = filterForm(
    main,
    filter,
    sources.map((s) => s.id),
  );
  main.replaceChildren(
    h('h1', {}, 'Dead letters'),
    h(
      'p',
      {},
      'What could not be processed, with the element and the rule it broke. Fix the mapping or the data, then retry; or dismiss with a reason.',
    ),
    form,
    table(
      `Open dead letters (${deadLetters.length}${deadLetters.length === 200 ? '+' : ''})`,
      ['id', 'when', 'source', 'stage', 'type', 'element', 'rule', 'action'],
      deadLetters.map((d) => {
        const cell = h('span', { class: 'result', 'aria-live': 'polite', 'data-testid': `result-${d.id}` });
        const issue = d.outcome.issue[0];
        return [
          d.id,
          when(d.createdAt),
          d.sourceId,
          d.stage,
          d.resourceType ?? '—',
          issue?.expression?.join(', ') ?? '—',
          `${issue?.code ?? ''}: ${issue?.details?.text ?? ''}`,
          [actions(d, cell), cell],
        ];
      }),
      { 'data-testid': 'dead-letters' },
    ),
  );
}

/** Filters by source, type and stage; submitting shows the view again with them. */
function filterForm(main: HTMLElement, filter: Filter, sourceIds: string[]): HTMLElement {
  const sourceSel = h(
    'select',
    { id: 'dl-source' },
    h('option', { value: '' }, 'all'),
    sourceIds.map((id) => h('option', { value: id, selected: filter.source === id }, id)),
  );
  const typeInput = h('input', {
    id: 'dl-type',
    value: filter.type ?? '',
    placeholder: 'e.g. Appointment',
    pattern: '[A-Z][A-Za-z]*',
  });
  const stageSel = h(
    'select',
    { id: 'dl-stage' },
    STAGES.map((s) => h('option', { value: s, selected: (filter.stage ?? '') === s }, s || 'all')),
  );
  return h(
    'form',
    {
      class: 'filters',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void deadLettersView(main, {
          source: sourceSel.value || undefined,
          type: typeInput.value.trim() || undefined,
          stage: stageSel.value || undefined,
        });
      },
    },
    h('label', { for: 'dl-source' }, 'Source '),
    sourceSel,
    h('label', { for: 'dl-type' }, ' Type '),
    typeInput,
    h('label', { for: 'dl-stage' }, ' Stage '),
    stageSel,
    h('button', { type: 'submit' }, 'Filter'),
  );
}

/** Retry and dismiss (with a reason kept for audit), their result shown in `cell`. */
function actions(d: DeadLetter, cell: HTMLElement): HTMLElement {
  const retry = h(
    'button',
    {
      type: 'button',
      'data-testid': `retry-${d.id}`,
      onclick: async () => {
        retry.disabled = true;
        try {
          const r = await post<RetryDone>(`/dead-letters/${d.id}/retry`);
          cell.textContent = `retried: ${r.action}`;
          announce(`Dead letter ${d.id} retried`);
        } catch (err) {
          cell.textContent = `retry failed: ${(err as Error).message}`;
          retry.disabled = false;
        }
      },
    },
    'Retry',
  );
  const dismiss = h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      onclick: async () => {
        const reason = window.prompt('Why is this dead letter dismissed? (kept for audit)');
        if (!reason || reason.trim().length < 3) return;
        try {
          await post(`/dead-letters/${d.id}/dismiss`, { reason });
          cell.textContent = 'dismissed';
          announce(`Dead letter ${d.id} dismissed`);
        } catch (err) {
          cell.textContent = `could not dismiss: ${(err as Error).message}`;
        }
      },
    },
    'Dismiss',
  );
  return h('span', { class: 'actions' }, retry, dismiss);
}
