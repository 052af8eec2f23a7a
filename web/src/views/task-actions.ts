/**
 * Working a Task from the dashboard (docs/care-team.md): one "Work on it" button per Task opens a
 * dialog to claim, start, assign (to a Practitioner found by name), complete with an outcome, cancel
 * with a reason, add a note or log a call. What the person saw (status, owner) goes with the action:
 * a Task that moved in the EMR since is a conflict, said in words, and the page shows it as it is now.
 */
import { get, postWrite, requestId } from '../api';
import type { CareTeamWrite } from '../../../src/api/schemas/care-team';
import { announce, flash, h } from '../dom';

export interface ActionTarget {
  sourceId: string;
  patientId: string;
  taskId: string;
  status: string | null;
  owner: string | null;
  /** What the Task is about, for the dialog's title. */
  label: string;
  /** What the API says may be done now (absent: from the status). */
  actions?: string[];
}

const ENDED = ['completed', 'cancelled', 'failed', 'rejected', 'entered-in-error'];

const CHOICES: { value: string; label: string; field?: string }[] = [
  { value: 'claim', label: 'Claim it (I take it on)' },
  { value: 'start', label: 'Start it' },
  { value: 'assign', label: 'Assign it to someone' },
  { value: 'complete', label: 'Complete it', field: 'Outcome (required)' },
  { value: 'cancel', label: 'Cancel it', field: 'Reason (required)' },
  { value: 'note', label: 'Add a note', field: 'Note (required)' },
  { value: 'call', label: 'Log a call', field: 'What was said (required)' },
];

function allowed(t: ActionTarget): string[] {
  if (t.actions) return [...t.actions, 'call'];
  if (t.status && ENDED.includes(t.status)) return ['call'];
  return CHOICES.map((c) => c.value).filter((c) => c !== 'start' || t.status !== 'in-progress');
}

/** The Practitioner search of the assign choice: a name, then one of the EMR's matches. */
function assigneePicker(sourceId: string): {
  el: HTMLElement;
  value: () => { reference: string; display: string } | undefined;
} {
  const name = h('input', { id: 'ta-assignee-name', autocomplete: 'off', minlength: 2, maxlength: 100 });
  const results = h(
    'select',
    { id: 'ta-assignee', 'aria-label': 'Practitioner' },
    h('option', { value: '' }, 'search first'),
  );
  let found: { reference: string; display: string }[] = [];
  const search = async (): Promise<void> => {
    if (name.value.trim().length < 2) return void name.reportValidity();
    const r = await get<{ practitioners: typeof found }>(
      `/sources/${encodeURIComponent(sourceId)}/practitioners?name=${encodeURIComponent(name.value.trim())}`,
    );
    found = r.practitioners;
    results.replaceChildren(
      ...(found.length
        ? found.map((p, i) => h('option', { value: String(i) }, p.display))
        : [h('option', { value: '' }, 'nobody of that name in the EMR')]),
    );
    announce(`${found.length} practitioner(s) found`);
  };
  const el = h(
    'div',
    { class: 'assignee' },
    h('label', { for: 'ta-assignee-name' }, 'Practitioner’s name '),
    name,
    h('button', { type: 'button', class: 'secondary', onclick: () => void search() }, 'Find'),
    h('label', { for: 'ta-assignee' }, ' Assign to '),
    results,
  );
  return { el, value: () => (results.value === '' ? undefined : found[Number(results.value)]) };
}

async function send(t: ActionTarget, choice: string, text: string, assignee?: { reference: string; display: string }) {
  const base = `/sources/${encodeURIComponent(t.sourceId)}`;
  if (choice === 'call')
    return postWrite<CareTeamWrite>(`${base}/patients/${encodeURIComponent(t.patientId)}/contacts`, {
      kind: 'call',
      text,
      taskId: t.taskId,
      requestId: requestId(),
    });
  const field = choice === 'complete' ? 'outcome' : choice === 'cancel' ? 'reason' : 'note';
  return postWrite<CareTeamWrite>(`${base}/tasks/${encodeURIComponent(t.taskId)}/actions`, {
    action: choice,
    ...(text ? { [field]: text } : {}),
    ...(assignee ? { assignee } : {}),
    seen: { status: t.status, owner: t.owner },
    requestId: requestId(),
  });
}

/** The dialog; `done` shows the page again (with the Task as the EMR now has it). */
export function workOnTask(t: ActionTarget, done: () => Promise<void> | void): void {
  const choices = CHOICES.filter((c) => allowed(t).includes(c.value));
  const text = h('textarea', { id: 'ta-text', maxlength: 2000, rows: 3 });
  const textLabel = h('label', { for: 'ta-text' }, 'Note (optional)');
  const picker = assigneePicker(t.sourceId);
  const result = h('p', { role: 'status', 'data-testid': 'task-action-result' });
  const select = h(
    'select',
    { id: 'ta-choice', onchange: () => shape() },
    choices.map((c) => h('option', { value: c.value }, c.label)),
  );
  const shape = (): void => {
    const c = choices.find((x) => x.value === select.value);
    textLabel.textContent = c?.field ?? 'Note (optional)';
    text.required = Boolean(c?.field);
    picker.el.hidden = select.value !== 'assign';
  };
  const close = (): void => {
    dialog.close();
    dialog.remove();
  };
  const submit = h('button', { type: 'submit' }, 'Save to the EMR');
  const dialog: HTMLDialogElement = h(
    'dialog',
    { 'aria-labelledby': 'ta-title', 'data-testid': 'task-action-dialog' },
    h(
      'form',
      {
        method: 'dialog',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          if (text.required && !text.value.trim()) return void text.reportValidity();
          const assignee = select.value === 'assign' ? picker.value() : undefined;
          if (select.value === 'assign' && !assignee)
            return void (result.textContent = 'Find and choose a practitioner first.');
          submit.disabled = true;
          try {
            const r = await send(t, select.value, text.value.trim(), assignee);
            // Conflict: the Task moved; the page shows it as it is now and the person decides again.
            const said = r.body.message;
            close();
            await done();
            flash(said, r.body.state === 'conflict' || r.body.state === 'refused');
          } catch (err) {
            result.textContent = `Not saved: ${(err as Error).message}`;
            submit.disabled = false;
          }
        },
      },
      h('h2', { id: 'ta-title' }, 'Work on this Task'),
      h('p', {}, t.label),
      h('p', {}, `Now: ${t.status ?? 'unknown'}, ${t.owner ? `owned by ${t.owner}` : 'unassigned'}.`),
      h('label', { for: 'ta-choice' }, 'What to do '),
      select,
      picker.el,
      textLabel,
      text,
      result,
      h(
        'p',
        { class: 'actions' },
        submit,
        h('button', { type: 'button', class: 'secondary', onclick: close }, 'Close'),
      ),
    ),
  );
  shape();
  document.body.append(dialog);
  dialog.showModal();
  select.focus();
}

/** The button that opens the dialog, named for the Task it acts on (buttons of a table must differ). */
export function workButton(t: ActionTarget, done: () => Promise<void> | void): HTMLElement {
  return h(
    'button',
    {
      type: 'button',
      'data-testid': `work-${t.taskId}`,
      'aria-label': `Work on it: ${t.label}`,
      onclick: () => workOnTask(t, done),
    },
    'Work on it',
  );
}
