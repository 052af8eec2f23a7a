/** Task statuses that end a Task (FHIR R4 Task.status): the store's one list (store/rows.ts), as a set. */
import { ENDED_TASK_STATUSES } from '../store/rows';

export const TERMINAL_TASK_STATUSES: ReadonlySet<string> = new Set(ENDED_TASK_STATUSES);
