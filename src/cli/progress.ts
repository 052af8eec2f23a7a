/** Progress of a sync on the terminal: one updating line per type on a TTY, plain lines otherwise (stderr). */
import type { SyncEvent } from '../sync/events';
import type { CliIo } from './io';

export function progressPrinter(io: CliIo, tty: boolean): (e: SyncEvent) => void {
  let started = performance.now();
  let open = false;
  const write = (line: string, final: boolean): void => {
    if (tty) {
      process.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
      open = !final;
    } else if (final) {
      io.err(line);
    }
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
        write(`  ${e.resourceType}: ${e.mode}${e.since ? ` since ${e.since}` : ''}…`, !tty);
        break;
      case 'page': {
        const secs = Math.max(0.001, (performance.now() - started) / 1000);
        const r = e.report;
        write(
          `  ${e.resourceType}: page ${r.pages}, ${r.received} resources (${Math.round(r.received / secs)}/s), ${r.new} new, ${r.changed} changed, ${r.deadLettered} dead-lettered`,
          false,
        );
        break;
      }
      case 'type-finished': {
        const r = e.report;
        write(
          `  ${r.resourceType}: ${r.status} — ${r.pages} page(s), ${r.received} received, ${r.new} new, ${r.changed} changed, ${r.unchanged} unchanged, ${r.deadLettered} dead-lettered${r.deleted ? `, ${r.deleted} deleted` : ''}, ${r.retries} retries`,
          true,
        );
        // Why a type did not complete, where the operator is looking (not only in the summary).
        if (r.error) io.err(`    error: ${r.error}`);
        else if (r.status !== 'ok') for (const n of r.notes.slice(0, 2)) io.err(`    note: ${n}`);
        break;
      }
      case 'bulk':
        if (e.phase === 'waiting')
          write(`  bulk export: the server is preparing the files (${e.progress ?? 'in progress'})…`, false);
        else
          write(
            `  bulk export: ${e.phase === 'kicked-off' ? 'started; waiting for the server' : e.phase === 'resumed' ? `resuming the export under way (${e.files ?? 0} file(s) known)` : `${e.files ?? 0} file(s) ready, downloading`}`,
            true,
          );
        break;
      case 'stage':
        if (open) write('', true);
        if (e.stage !== 'pull')
          io.err(
            `  ${e.stage === 'compute' ? 'computing indicators and planning write-back' : 'sending writes to the EMR'}…`,
          );
        break;
      case 'computed':
        write(
          `  indicators: ${e.patients}/${e.total} patients`,
          e.patients === e.total || !tty ? e.patients === e.total : false,
        );
        break;
      case 'run-finished':
        if (open) write('', true);
        break;
    }
  };
}
