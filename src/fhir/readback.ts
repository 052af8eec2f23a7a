/**
 * Reads fhir-engage's own Tasks back from the write target, incrementally
 * (`Task?identifier=<system>|&_lastUpdated=gt…`), so that what people did with
 * them (accepted, completed, rejected) is known: each status is recorded with
 * its time in task_events, and the Tasks are stored like pulled resources so
 * that survey requests count in questionnaire completion. Pages commit with
 * their events; the watermark moves when the search completes.
 */
import type { Bundle, Task } from '@medplum/fhirtypes';
import type { Store } from '../store/store';
import type { TaskEventRow } from '../store/queries';
import { patientIdFromReference } from '../mapping/patient-of';
import type { FhirClient } from './client';

/** Watermark key of the read-back, beside the source's resource types. */
export const READBACK_KEY = 'Task:fhir-engage';

export interface ReadBackReport {
  pages: number;
  tasks: number;
  /** New statuses recorded. */
  events: number;
}

export interface ReadBackContext {
  store: Store;
  client: FhirClient;
  sourceId: string;
  runId: string;
  identifierSystem: string;
  pageSize: number;
  overlapSeconds: number;
  signal?: AbortSignal;
}

/** The event a Task's current state stands for (pure). */
export function taskEvent(task: Task, identifierSystem: string): TaskEventRow | undefined {
  const identifier = task.identifier?.find((i) => i.system === identifierSystem)?.value;
  const changed = task.lastModified ?? task.meta?.lastUpdated;
  if (!identifier || !task.id || !task.status || !changed || Number.isNaN(Date.parse(changed))) return undefined;
  return {
    identifierValue: identifier,
    taskId: task.id,
    patientId: patientIdFromReference(task.for?.reference) ?? null,
    status: task.status,
    owner: task.owner?.reference ?? null,
    focus: task.focus?.reference ?? null,
    authoredOn: task.authoredOn && !Number.isNaN(Date.parse(task.authoredOn)) ? new Date(task.authoredOn) : null,
    changedAt: new Date(changed),
  };
}

export async function readBackOwnTasks(ctx: ReadBackContext): Promise<ReadBackReport> {
  const report: ReadBackReport = { pages: 0, tasks: 0, events: 0 };
  const watermark = await ctx.store.getWatermark(ctx.sourceId, READBACK_KEY);
  const params = new URLSearchParams({ identifier: `${ctx.identifierSystem}|`, _count: String(ctx.pageSize) });
  if (watermark)
    params.set('_lastUpdated', `gt${new Date(watermark.getTime() - ctx.overlapSeconds * 1000).toISOString()}`);
  let next: string | undefined = ctx.client.url(`Task?${params}`);
  let maxLastUpdated: number | undefined;
  while (next) {
    if (ctx.signal?.aborted) return report;
    const bundle: Bundle = await ctx.client.getBundle(next);
    next = bundle.link?.find((l) => l.relation === 'next')?.url;
    const tasks = (bundle.entry ?? [])
      .map((e) => e.resource)
      .filter((r): r is Task & { id: string } => r?.resourceType === 'Task' && typeof r.id === 'string');
    const events = tasks
      .map((t) => taskEvent(t, ctx.identifierSystem))
      .filter((e): e is TaskEventRow => e !== undefined);
    report.events += await ctx.store.transaction(async (tx) => {
      if (tasks.length)
        await tx.upsertResources(
          ctx.sourceId,
          ctx.runId,
          tasks.map((t) => ({ resource: t as never, patientId: patientIdFromReference(t.for?.reference) ?? null })),
        );
      return events.length ? tx.recordTaskEvents(ctx.sourceId, events) : 0;
    });
    for (const t of tasks) {
      const lu = Date.parse(t.meta?.lastUpdated ?? '');
      if (!Number.isNaN(lu)) maxLastUpdated = Math.max(maxLastUpdated ?? lu, lu);
    }
    report.pages++;
    report.tasks += tasks.length;
  }
  if (maxLastUpdated !== undefined)
    await ctx.store.advanceWatermark(ctx.sourceId, READBACK_KEY, new Date(maxLastUpdated));
  return report;
}
