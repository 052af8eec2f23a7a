/** Sources and runs: each source's last run, next scheduled run, and a sync button that follows the run live. */
import { get, post } from '../api';
import type { DeadLettersResponse } from '../../../src/api/schemas/operations';
import type { RunProgress, RunResponse, RunView } from '../../../src/api/schemas/runs';
import type { Approved, Source, SourcesResponse, SyncStarted } from '../../../src/api/schemas/sources';
import { announce, h, secs, table, when } from '../dom';

export type { RunView } from '../../../src/api/schemas/runs';
type Progress = RunProgress;

export function writesText(writes: RunView['writes']): string {
  if (!writes) return '—';
  return Object.entries(writes)
    .map(
      ([type, w]) =>
        `${type}: ${w.created ?? 0} created, ${w.updated ?? 0} updated, ${(w.cancelled ?? 0) + (w.completed ?? 0)} closed${w.failed ? `, ${w.failed} failed` : ''}`,
    )
    .join('; ');
}

export function stagesText(stages: RunView['stages']): string {
  if (!stages) return '—';
  return Object.entries(stages)
    .filter(([, ms]) => ms >= 50)
    .map(([k, ms]) => `${k.replace(/Ms$/, '')} ${secs(ms)}`)
    .join(', ');
}

function progressText(p: Progress): string {
  const types = Object.entries(p.types)
    .map(([t, x]) => `${t} ${x.received}`)
    .join(', ');
  const compute = p.computed.total ? `, indicators ${p.computed.patients}/${p.computed.total} patients` : '';
  return `${p.stage}${p.detail ? ` (${p.detail})` : ''}: ${types || 'starting'}${compute}`;
}

function lastRunBlock(s: Source): HTMLElement {
  const r = s.lastRun;
  if (!r) return h('p', {}, 'No run yet.');
  return h(
    'div',
    { class: 'run' },
    h(
      'p',
      {},
      h('span', { class: `status status-${r.status}`, 'data-testid': `last-status-${s.id}` }, r.status),
      ` ${when(r.startedAt)}, ${secs(r.durationMs)}${r.pullMethod === 'bulk' ? ' (Bulk Data export)' : ''} — `,
      h('a', { href: `#/runs/${encodeURIComponent(r.id)}` }, 'details'),
    ),
    table(
      'Resources pulled',
      ['type', 'status', 'received', 'new', 'changed', 'dead-lettered'],
      r.pull.map((t) => [t.resourceType, t.status, t.received, t.new, t.changed, t.deadLettered]),
    ),
    h('p', {}, `Stages: ${stagesText(r.stages)}`),
    h('p', {}, `Writes: ${writesText(r.writes)}`),
    h('p', {}, `Dead letters: ${r.deadLetters ? `${r.deadLetters.thisRun} added, ${r.deadLetters.open} open` : '—'}`),
  );
}

/**
 * Writes a run held for approval (a source's first writes, or an unusual volume): the plan by rule
 * with example patients, and a button that sends exactly that plan after confirmation.
 */
function heldBlock(s: Source, rerender: (notice: Notice) => void): HTMLElement | null {
  const held = s.approval;
  if (!held) return null;
  const out = h('p', { class: 'live', 'aria-live': 'polite' });
  const button = h(
    'button',
    {
      type: 'button',
      'data-testid': `approve-${s.id}`,
      onclick: async () => {
        if (!window.confirm(`Send these ${held.plan.total} writes to the EMR of ${s.name ?? s.id}?`)) return;
        button.disabled = true;
        try {
          const r = await post<Approved>(`/sources/${encodeURIComponent(s.id)}/approve`);
          announce(`Approved: ${r.plan.total} writes of ${s.id} sent`);
          rerender({ sourceId: s.id, text: `approved and sent: ${writesText(r.sent)}` });
        } catch (err) {
          out.textContent = `could not approve: ${(err as Error).message}`;
          button.disabled = false;
        }
      },
    },
    'Approve and send',
  );
  return h(
    'div',
    { class: 'held', role: 'region', 'aria-label': `Writes held for approval: ${s.id}` },
    h('p', { class: 'error', role: 'alert' }, `Held for approval (${held.reason}): ${held.detail}.`),
    table(
      'The plan',
      ['programme', 'rule', 'resource', 'count', 'example patients'],
      held.plan.byRule.map((r) => [
        r.programme ?? '—',
        r.rule,
        `${r.resourceType}${r.op === 'close' ? ' (close)' : ''}`,
        r.count,
        r.examples.join(', '),
      ]),
      { 'data-testid': `plan-${s.id}` },
    ),
    h('div', { class: 'actions' }, button, out),
  );
}

/** Starts a run after confirmation, then polls it until it finishes. */
async function trigger(s: Source, out: HTMLElement, rerender: (notice: Notice) => void): Promise<void> {
  if (
    !window.confirm(
      `Start a sync of ${s.name ?? s.id} now? It pulls from the EMR${s.writeBack ? ' and writes Tasks and Observations back' : ''}.`,
    )
  )
    return;
  out.textContent = 'starting…';
  const started = await post<SyncStarted>(`/sources/${encodeURIComponent(s.id)}/sync`);
  for (;;) {
    const run = await get<RunResponse>(`/runs/${encodeURIComponent(started.runId)}`);
    if (run.status !== 'running') {
      announce(`Sync of ${s.id} finished: ${run.status}`);
      rerender({ sourceId: s.id, text: `finished: ${run.status}` });
      return;
    }
    out.textContent = run.progress ? progressText(run.progress) : 'running…';
    await new Promise((r) => setTimeout(r, 700));
  }
}

/** A line shown under a source's button after its run, when the view is drawn again with the new last run. */
interface Notice {
  sourceId: string;
  text: string;
}

export async function sourcesView(main: HTMLElement, notice?: Notice): Promise<void> {
  const { sources } = await get<SourcesResponse>('/sources');
  const render = (n: Notice): void => void sourcesView(main, n);
  main.replaceChildren(
    h('h1', {}, 'Sources and runs'),
    ...sources.map((s) => {
      const live = h(
        'p',
        { class: 'live', 'aria-live': 'polite', 'data-testid': `progress-${s.id}` },
        notice?.sourceId === s.id ? notice.text : '',
      );
      const button = h(
        'button',
        {
          type: 'button',
          'data-testid': `sync-${s.id}`,
          disabled: s.running,
          onclick: () => {
            button.disabled = true;
            trigger(s, live, render).catch((err: unknown) => {
              live.textContent = `could not start: ${(err as Error).message}`;
              button.disabled = false;
            });
          },
        },
        s.running ? 'Sync running…' : 'Sync now',
      );
      return h(
        'section',
        { class: 'card', 'aria-labelledby': `src-${s.id}` },
        h('h2', { id: `src-${s.id}` }, s.name ?? s.id, h('small', {}, ` ${s.id}`)),
        h(
          'p',
          {},
          `Schedule: ${s.schedule ?? 'on demand'}; next run: ${when(s.nextRun)}; pull: ${s.pullMethod}; write-back: ${s.writeBack ? 'on' : 'off'}`,
        ),
        lastRunBlock(s),
        heldBlock(s, render),
        h('div', { class: 'actions' }, button, live),
      );
    }),
  );
}

export async function runView(main: HTMLElement, runId: string): Promise<void> {
  const run = await get<RunResponse>(`/runs/${encodeURIComponent(runId)}`);
  if (!('view' in run)) {
    main.replaceChildren(
      h('h1', {}, 'Run'),
      h(
        'p',
        { class: 'error', role: 'alert' },
        `This run ended before it could be recorded: ${run.error?.message ?? run.status}`,
      ),
    );
    return;
  }
  const v: RunView = run.view;
  const letters = await get<DeadLettersResponse>(`/dead-letters?run=${encodeURIComponent(runId)}&limit=200`);
  const parts: (Node | null)[] = [
    h('h1', {}, 'Run'),
    h(
      'p',
      {},
      h('span', { class: `status status-${v.status}` }, v.status),
      ` started ${when(v.startedAt)}, finished ${when(v.finishedAt)} (${secs(v.durationMs)})`,
    ),
    v.error?.message ? h('p', { class: 'error', role: 'alert' }, `Error: ${v.error.message}`) : null,
    run.progress && run.status === 'running' ? h('p', {}, `Now: ${progressText(run.progress)}`) : null,
    table(
      'Resources pulled',
      ['type', 'mode', 'status', 'received', 'new', 'changed', 'dead-lettered'],
      v.pull.map((t) => [t.resourceType, t.mode, t.status, t.received, t.new, t.changed, t.deadLettered]),
    ),
    h('p', {}, `Stages: ${stagesText(v.stages)}`),
    h('p', {}, `Patients: ${v.patients ? `${v.patients.recomputed} recomputed of ${v.patients.total}` : '—'}`),
    v.heldBack?.patients
      ? h(
          'div',
          { class: 'warning' },
          h('p', {}, `${v.heldBack.patients} patient(s) held back:`),
          h(
            'ul',
            {},
            v.heldBack.reasons.map((r) => h('li', {}, r)),
          ),
        )
      : null,
    h('p', {}, `Writes: ${writesText(v.writes)}`),
    table(
      'Errors of this run (open dead letters)',
      ['id', 'stage', 'type', 'element', 'rule'],
      letters.deadLetters.map((d) => [
        d.id,
        d.stage,
        d.resourceType ?? '—',
        d.outcome.issue[0]?.expression?.join(', ') ?? '—',
        d.outcome.issue[0]?.details?.text ?? d.outcome.issue[0]?.code ?? '—',
      ]),
    ),
  ];
  main.replaceChildren(...parts.filter((p): p is Node => p !== null));
}
