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
          d.resourceType ? `${d.resourceType}${d.resourceId ? `/${d.resourceId}` : ''}` : '—',
          issue?.expression?.join(', ') ?? '—',
          `${issue?.code ?? ''}: ${issue?.details?.text ?? ''}`,
          [actions(d, cell, () => void deadLettersView(main, filter)), cell],
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

/**
 * Asks why a dead letter is dismissed, in a modal dialog: the reason is required (3 characters or
 * more) and kept for audit. Resolves with the reason, or undefined when cancelled.
 */
function askReason(id: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const input = h('textarea', { id: 'dismiss-reason', required: true, minlength: 3, maxlength: 500, rows: 3 });
    const dialog: HTMLDialogElement = h(
      'dialog',
      { 'aria-labelledby': 'dismiss-title', 'data-testid': 'dismiss-dialog' },
      h(
        'form',
        {
          method: 'dialog',
          onsubmit: (e: Event) => {
            e.preventDefault();
            if (input.value.trim().length < 3) return input.reportValidity();
            dialog.close();
            dialog.remove();
            resolve(input.value.trim());
          },
        },
        h('h2', { id: 'dismiss-title' }, `Dismiss dead letter ${id}`),
        h('label', { for: 'dismiss-reason' }, 'Why? (required, kept for audit)'),
        input,
        h(
          'p',
          { class: 'actions' },
          h('button', { type: 'submit' }, 'Dismiss it'),
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              onclick: () => {
                dialog.close();
                dialog.remove();
                resolve(undefined);
              },
            },
            'Cancel',
          ),
        ),
      ),
    );
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

/** Retry and dismiss (with a required reason kept for audit); the list and its count are shown again after either. */
function actions(d: DeadLetter, cell: HTMLElement, refresh: () => void): HTMLElement {
  const retry = h(
    'button',
    {
      type: 'button',
      'data-testid': `retry-${d.id}`,
      'aria-label': `Retry dead letter ${d.id}`,
      onclick: async () => {
        retry.disabled = true;
        try {
          const r = await post<RetryDone>(`/dead-letters/${d.id}/retry`);
          cell.textContent = `retried: ${r.action}`;
          announce(`Dead letter ${d.id} retried: ${r.action}`);
          setTimeout(refresh, 1500);
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
      'data-testid': `dismiss-${d.id}`,
      'aria-label': `Dismiss dead letter ${d.id}`,
      onclick: async () => {
        const reason = await askReason(d.id);
        if (!reason) return;
        try {
          await post(`/dead-letters/${d.id}/dismiss`, { reason });
          announce(`Dead letter ${d.id} dismissed`);
          refresh();
        } catch (err) {
          cell.textContent = `could not dismiss: ${(err as Error).message}`;
        }
      },
    },
    'Dismiss',
  );
  return h('span', { class: 'actions' }, retry, dismiss);
}
