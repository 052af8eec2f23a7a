/**
 * The programme report per programme (docs/programme.md): the same figures over each programme's
 * patients — those enrolled in it at some time in the period — with its enrolment. Pure: the period's
 * enrolment and the report's context in, one context per programme out.
 */
import type { ProgrammeContext } from './programme-report';
import { patientKey } from './enrolment-figures';

/** What the report reads, narrowed to the patients of one programme. */
export function programmeContextOf(ctx: ProgrammeContext, members: ReadonlySet<string>): ProgrammeContext {
  const keep = <T>(m: Map<string, T>): Map<string, T> => new Map([...m].filter(([k]) => members.has(k)));
  return {
    ...ctx,
    written: ctx.written.filter((w) => members.has(patientKey(w.sourceId, w.patientId))),
    taskEvents: ctx.taskEvents.filter((e) => e.patientId !== null && members.has(patientKey(e.sourceId, e.patientId))),
    tiersAt: { from: keep(ctx.tiersAt.from), to: keep(ctx.tiersAt.to) },
    ...(ctx.messages ? { messages: ctx.messages.filter((m) => members.has(patientKey(m.sourceId, m.patientId))) } : {}),
  };
}
