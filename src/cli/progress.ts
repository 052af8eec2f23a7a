/**
 * Progress of a sync on stderr. At a terminal: one updating line per step (a search's pages, a Bulk
 * Data export's batches, indicators, writes sent). Otherwise one line per finished step; and when
 * stderr carries JSON (cli/log-format.ts), one record per finished step with its figures as fields.
 */
import type { TypeReport } from '../fhir/pull-context';
import type { SyncEvent } from '../sync/events';
import type { CliIo } from './io';

/** A terminal line is redrawn at most this often (a write-back of 10,000 rows emits 10,000 events). */
const REDRAW_MS = 100;

const perSecond = (n: number, sinceMs: number): number =>
  Math.round(n / Math.max(0.001, (performance.now() - sinceMs) / 1000));

/** "3 page(s)" for searches; an export's files are stored in batches (of 500 lines). */
export const unitsOf = (r: Pick<TypeReport, 'mode' | 'pages'>): string =>
  `${r.pages} ${r.mode === 'bulk' ? 'batch(es)' : 'page(s)'}`;

type Counts = Pick<TypeReport, 'received' | 'new' | 'changed' | 'deadLettered'>;

/** What the latest page or batch brought: searches say the running totals, batches their own counts. */
function pageLine(r: TypeReport, before: Counts | undefined, startedMs: number): string {
  const rate = `${perSecond(r.received, startedMs)}/s`;
  if (r.mode !== 'bulk')
    return `  ${r.resourceType}: page ${r.pages}, ${r.received} resources so far (${rate}): ${r.new} new, ${r.changed} changed, ${r.deadLettered} dead-lettered`;
  const d = (k: keyof Counts): number => r[k] - (before?.[k] ?? 0);
  return `  ${r.resourceType}: batch ${r.pages} stored, ${d('received')} lines: ${d('new')} new, ${d('changed')} changed, ${d('deadLettered')} dead-lettered (${r.received} in all, ${rate})`;
}

function finishedLine(r: TypeReport): string {
  return `  ${r.resourceType}: ${r.status} — ${unitsOf(r)}, ${r.received} received, ${r.new} new, ${r.changed} changed, ${r.unchanged} unchanged, ${r.deadLettered} dead-lettered${r.deleted ? `, ${r.deleted} deleted` : ''}, ${r.retries} retries`;
}

/** The write-back of one dispatch: counted as rows settle, taken (and reset) when the stage ends. */
function writeTally(): {
  add: (e: Extract<SyncEvent, { type: 'writes' }>) => { done: number; total: number; perSecond: number };
  take: () => { done: number; total: number; perSecond: number } | undefined;
} {
  let tally: { done: number; total: number; startedMs: number } | undefined;
  const now = (t: { done: number; total: number; startedMs: number }) => ({
    done: t.done,
    total: t.total,
    perSecond: perSecond(t.done, t.startedMs),
  });
  return {
    add: (e) => {
      tally ??= { done: 0, total: e.total, startedMs: performance.now() };
      tally.done = e.done;
      tally.total = e.total;
      return now(tally);
    },
    take: () => {
      const t = tally;
      tally = undefined;
      return t && t.done > 0 ? now(t) : undefined;
    },
  };
}

function bulkLine(e: Extract<SyncEvent, { type: 'bulk' }>): string {
  if (e.phase === 'waiting')
    return `  bulk export: the server is preparing the files (${e.progress ?? 'in progress'})…`;
  if (e.phase === 'kicked-off') return '  bulk export: started; waiting for the server';
  if (e.phase === 'resumed') return `  bulk export: resuming the export under way (${e.files ?? 0} file(s) known)`;
  return `  bulk export: ${e.files ?? 0} file(s) ready, downloading`;
}

export function progressPrinter(io: CliIo, tty: boolean): (e: SyncEvent) => void {
  if (io.record) return progressRecords(io.record);
  let started = performance.now();
  let open = false;
  let drawnAt = 0;
  const batches = new Map<string, Counts>();
  const writes = writeTally();
  const write = (line: string, final: boolean): void => {
    if (tty) {
      const now = performance.now();
      if (!final && now - drawnAt < REDRAW_MS) return;
      drawnAt = now;
      process.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
      open = !final;
    } else if (final) {
      io.err(line);
    }
  };
  const endWrites = (): void => {
    const w = writes.take();
    if (w) write(`  writes: ${w.done} of ${w.total} sent to the EMR (${w.perSecond}/s)`, true);
    else if (open) write('', true);
  };
  return (e) => {
    switch (e.type) {
      case 'run-started':
        io.err(
          `sync ${e.sourceId}: run ${e.runId} as of ${e.asOf}${e.resumed.length ? ` (resuming after ${e.resumed.length} interrupted run(s))` : ''}`,
        );
        break;
      case 'type-started':
        started = performance.now();
        batches.delete(e.resourceType);
        write(`  ${e.resourceType}: ${e.mode}${e.since ? ` since ${e.since}` : ''}…`, !tty);
        break;
      case 'page':
        write(pageLine(e.report, batches.get(e.resourceType), started), false);
        batches.set(e.resourceType, { ...e.report });
        break;
      case 'type-finished': {
        const r = e.report;
        write(finishedLine(r), true);
        // Why a type did not complete, where the operator is looking (not only in the summary).
        if (r.error) io.err(`    error: ${r.error}`);
        else if (r.status !== 'ok') for (const n of r.notes.slice(0, 2)) io.err(`    note: ${n}`);
        break;
      }
      case 'bulk':
        write(bulkLine(e), e.phase !== 'waiting');
        break;
      case 'stage':
        endWrites();
        if (e.stage !== 'pull')
          io.err(
            `  ${e.stage === 'compute' ? 'computing indicators and planning write-back' : 'sending writes to the EMR'}…`,
          );
        break;
      case 'computed':
        write(`  indicators: ${e.patients}/${e.total} patients`, e.patients === e.total);
        break;
      case 'writes': {
        const w = writes.add(e);
        write(`  writes: ${w.done}/${w.total} sent (${w.perSecond}/s)`, false);
        break;
      }
      case 'run-finished':
        endWrites();
        break;
    }
  };
}

/** The same steps as JSON records (a log collector's view): finished steps only, with their figures. */
function progressRecords(write: NonNullable<CliIo['record']>): (e: SyncEvent) => void {
  const writes = writeTally();
  // The run's own start and end are the logger's records (sync/run-lifecycle.ts); each step names its run.
  let run: { sourceId?: string; runId?: string } = {};
  const record = (msg: string, fields: Record<string, unknown>): void => write(msg, { ...run, ...fields });
  const endWrites = (): void => {
    const w = writes.take();
    if (w) record('writes sent', w);
  };
  return (e) => {
    switch (e.type) {
      case 'run-started':
        run = { sourceId: e.sourceId, runId: e.runId };
        break;
      case 'type-finished': {
        const { resourceType, status, mode, pages, received, deadLettered, deleted, retries, durationMs } = e.report;
        const unit = mode === 'bulk' ? 'batches' : 'pages';
        // Not `resourceType`: the logger reduces any object with one to a resource's type and id.
        record('type pulled', {
          type: resourceType,
          status,
          mode,
          [unit]: pages,
          received,
          new: e.report.new,
          changed: e.report.changed,
          unchanged: e.report.unchanged,
          deadLettered,
          deleted,
          retries,
          durationMs,
          ...(e.report.error ? { error: e.report.error } : {}),
          ...(e.report.notes.length ? { notes: e.report.notes } : {}),
        });
        break;
      }
      case 'bulk':
        if (e.phase !== 'waiting') record('bulk export', { phase: e.phase, files: e.files });
        break;
      case 'stage':
        endWrites();
        record('stage started', { stage: e.stage });
        break;
      case 'computed':
        if (e.patients === e.total) record('indicators computed', { patients: e.total });
        break;
      case 'writes':
        writes.add(e);
        break;
      case 'run-finished':
        endWrites();
        break;
    }
  };
}
