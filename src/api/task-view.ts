/**
 * One of fhir-engage's Tasks as the care team sees it (docs/care-team.md): status, owner by name,
 * description, clinical dates, notes, and what may be done with it now. Pure.
 */
import type { Task } from '@medplum/fhirtypes';
import { ownerName } from '../actions/care-team';
import { TERMINAL_TASK_STATUSES } from '../indicators/task-status';
import type { Sendable } from './reply';
import type { TaskView } from './schemas/care-team';

/** When the Task should be done: its execution period's end, else its restriction's (a survey window, a reminder's send window). */
export const taskDue = (task: Task): string | null =>
  task.executionPeriod?.end ?? task.restriction?.period?.end ?? null;

function allowedActions(status: string | null): string[] {
  if (status && TERMINAL_TASK_STATUSES.has(status)) return [];
  return ['claim', 'assign', ...(status === 'in-progress' ? [] : ['start']), 'complete', 'cancel', 'note'];
}

export function taskView(taskId: string, task: Task | undefined, writtenStatus: string | null): Sendable<TaskView> {
  const status = task?.status ?? writtenStatus;
  return {
    taskId,
    status,
    owner: ownerName(task?.owner),
    description: task?.description ?? null,
    authoredOn: task?.authoredOn ?? null,
    due: task ? taskDue(task) : null,
    businessStatus: task?.businessStatus?.text ?? null,
    notes: (task?.note ?? []).map((n) => ({
      text: n.text ?? '',
      time: n.time ?? null,
      author: n.authorString ?? n.authorReference?.display ?? null,
    })),
    actions: allowedActions(status),
  };
}
