/** Human-readable run reports for the terminal. */
import type { TypeReport } from '../fhir/pull-context';
import type { SyncSummary } from '../sync/events';
import { percent } from '../percent';

export function formatTypeReport(t: TypeReport): string {
  const parts = [
    `${t.pages} ${t.mode === 'bulk' ? 'batch(es)' : 'page(s)'}`,
    `${t.received} received`,
    `${t.new} new`,
    `${t.changed} changed`,
    `${t.unchanged} unchanged`,
    `${t.deadLettered} dead-lettered`,
    ...(t.deleted ? [`${t.deleted} deleted`] : []),
    `${t.retries} retries`,
    `${(t.durationMs / 1000).toFixed(1)} s`,
  ];
  const head = `  ${t.resourceType.padEnd(22)} ${t.status === 'ok' ? t.mode : t.status.toUpperCase()}`;
  const lines = [`${head}: ${parts.join(', ')}`];
  for (const n of t.notes) lines.push(`      note: ${n}`);
  if (t.error) lines.push(`      error: ${t.error}`);
  if (t.hint) lines.push(`      fix: ${t.hint}`);
  return lines.join('\n');
}

const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Who is where, and what was written (with what the less obvious words mean). */
function outcomeLines(s: SyncSummary): string[] {
  const lines: string[] = [];
  lines.push(
    `engagement tiers: engaged ${s.tiers.engaged}, at risk ${s.tiers['at-risk']}, disengaged ${s.tiers.disengaged}, unknown ${s.tiers.unknown} (too little data to score; docs/indicators.md)`,
  );
  const p = s.programme;
  lines.push(
    `programme: median appointment adherence ${percent(p.medianAdherence)}; PHQ-9 response ${percent(p.phq9ResponseShare)} and remission ${percent(p.phq9RemissionShare)} of ${p.phq9WithBaseline} patient(s) with a baseline score; ${p.item9Flags} item-9 (self-harm question) flag(s); ${p.phq9FollowUpsDue} PHQ-9 follow-up(s) due`,
  );
  if (s.dryRun) {
    lines.push(`writes: ${s.planned} planned, none sent (dry run)`);
  } else {
    for (const [type, w] of Object.entries(s.writes)) {
      lines.push(
        `writes ${type}: ${w.created} created, ${w.updated} updated, ${w.cancelled} cancelled, ${w.completed} completed, ${w.leftToPerson} left to a person, ${w.failed} failed${w.retryLater ? `, ${w.retryLater} to retry` : ''}`,
      );
    }
    const all = Object.values(s.writes);
    if (all.some((w) => w.leftToPerson > 0))
      lines.push('   left to a person: Tasks a person has changed in the EMR, which fhir-engage leaves alone');
    if (all.some((w) => w.retryLater > 0))
      lines.push('   to retry: the EMR was away or busy; they are sent again at the next run, never twice');
  }
  return lines;
}

export function formatSummary(s: SyncSummary): string[] {
  const lines: string[] = [];
  lines.push(
    `${s.dryRun ? 'DRY RUN ' : ''}sync ${s.sourceId} run ${s.runId}: ${s.status.toUpperCase()} in ${(s.durationMs / 1000).toFixed(1)} s (as of ${s.asOf})`,
  );
  if (s.resumed.length) lines.push(`  resumed after interrupted run(s): ${s.resumed.join(', ')}`);
  lines.push(s.pullMethod === 'bulk' ? 'pulled (Bulk Data $export):' : 'pulled:');
  for (const t of s.pull) lines.push(formatTypeReport(t));
  lines.push(
    `patients: ${s.patients.total} in the store, ${s.patients.recomputed} recomputed at this run (new data, a Task moved, or a new day at the clinic)`,
  );
  if (s.heldBack.patients > 0 || s.heldBack.reasons.length > 0) {
    lines.push(
      `held back: ${s.heldBack.patients} patient(s) not recomputed and nothing written for them, because this run's data is incomplete:`,
    );
    for (const r of s.heldBack.reasons) lines.push(`      ${r}`);
  }
  if (s.approval) {
    lines.push(`HELD FOR APPROVAL (${s.approval.reason}): ${s.approval.detail}. Nothing of it was sent. The plan:`);
    for (const r of s.approval.plan.byRule)
      lines.push(
        `      ${r.programme ? `${r.programme} · ` : ''}${r.rule}: ${r.count} ${r.resourceType} ${r.op === 'close' ? 'to close' : 'to write'} (e.g. patients ${r.examples.join(', ')})`,
      );
    lines.push(`   review it, then run: ${s.approval.command}`);
  }
  if (s.alerts && (s.alerts.sent || s.alerts.failed || s.alerts.created))
    lines.push(
      `safety alerts: ${s.alerts.created} new, ${s.alerts.sent} sent, ${s.alerts.failed} failed (retried at the next run)${s.alerts.resolved ? `, ${s.alerts.resolved} resolved` : ''}`,
    );
  const m = s.messages;
  if (m && (m.planned || m.sent || m.statuses || m.failed || m.cancelled || m.optOuts || m.replies))
    lines.push(
      `messages to patients: ${m.sent} sent${m.delivered ? ` (${m.delivered} of them emails the server accepted)` : ''}, ${m.statuses} delivery report(s) applied, ${m.failed} failed, ${m.cancelled} cancelled before sending, ${m.retried} to try again; ${m.optOuts} opt-out(s), ${m.optIns} opt-in(s), ${m.replies} reply(ies)`,
    );
  if (s.enrolment && s.patients.recomputed > 0) {
    lines.push(
      `programmes: ${s.enrolment.programmes.map((p) => `${p.name} ${p.patients}`).join(', ')}; in no programme ${s.enrolment.inNone} (nothing is written about them)`,
    );
    for (const p of s.enrolment.programmes) {
      const moved = [p.started ? `${p.started} enrolled` : '', p.ended ? `${p.ended} left` : ''].filter(Boolean);
      if (moved.length) lines.push(`   ${p.name}: ${moved.join(', ')} at this run`);
      if (p.deferredTasks)
        lines.push(
          `   ${p.name}: ${p.deferredTasks} new Task(s) wait for the next runs (maxNewTasksPerRun); they are planned again then, none is lost`,
        );
    }
  }
  if (s.identity.merged)
    lines.push(
      `merged records: ${s.identity.merged} replaced patient record(s) skipped (their data counts for the surviving record)`,
    );
  if (s.identity.unknownPatients)
    lines.push(
      `unknown patients: ${s.identity.unknownPatients} referenced patient(s) the source did not return; their resources are dead letters`,
    );
  lines.push(...outcomeLines(s));
  lines.push(
    `dead letters: ${s.deadLetters.thisRun} this run, ${s.deadLetters.open} open in total${s.deadLetters.open ? ' (resources or writes that could not be used; `fhir-engage dead-letters` lists them)' : ''}`,
  );
  lines.push(
    `requests to the EMR: ${s.requests.requests} (${s.requests.retries} retried, ${s.requests.errors} answered with an error)`,
  );
  const st = s.stages;
  lines.push(
    `stages: pull ${sec(st.pullMs)}, validate ${sec(st.validateMs)}, store ${sec(st.storeMs)}, map ${sec(st.mapMs)}, indicators ${sec(st.indicatorsMs)}, plan ${sec(st.planMs)}, write-back ${sec(st.writeBackMs)}`,
  );
  if (s.error) lines.push(`error: ${s.error}`);
  return lines;
}
