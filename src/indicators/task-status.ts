/** Task statuses that end a Task (FHIR R4 Task.status, http://hl7.org/fhir/R4/valueset-task-status.html). */
export const TERMINAL_TASK_STATUSES: ReadonlySet<string> = new Set([
  'completed',
  'cancelled',
  'failed',
  'rejected',
  'entered-in-error',
]);
