import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { ExitCode } from '../../errors';
import type { Store } from '../../store/store';
import type { SourceScope } from '../../store/rows';
import type { CliIo } from '../io';
import { openStoreOrService } from '../service-reader';
import { parseWholeNumber } from './sandbox';

interface ListOptions {
  source?: string;
  run?: string;
  limit: number;
  json?: boolean;
}

/** Read-only views of the store for operators: recent runs and open dead letters (never their payloads). */
export function registerInspectCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  /** The store, or (while a service holds the embedded store) the service's API: both answer what these commands read. */
  const withStore = async (
    fn: (store: Pick<Store, 'listRuns' | 'listDeadLetters'>) => Promise<void>,
  ): Promise<void> => {
    const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
    const opened = await openStoreOrService(config, (line) => io.err(line));
    if ('reader' in opened) {
      const { reader } = opened;
      await fn({
        listRuns: (o) => reader.listRuns({ sourceId: oneSource(o?.sourceId), limit: o?.limit ?? 20 }),
        listDeadLetters: (o) =>
          reader.listDeadLetters({ sourceId: oneSource(o?.sourceId), runId: o?.runId, limit: o?.limit ?? 50 }),
      });
      setExit(ExitCode.ok);
      return;
    }
    const { store } = opened;
    try {
      await fn(store);
      setExit(ExitCode.ok);
    } finally {
      await store.close();
    }
  };

  program
    .command('runs')
    .description('list recent sync runs with their status')
    .option('--source <id>', 'only this source')
    .option('--limit <n>', 'at most this many', parseWholeNumber, 20)
    .option('--json', 'one JSON object per line')
    .action((opts: ListOptions) =>
      withStore(async (store) => {
        const runs = await store.listRuns({ sourceId: opts.source, limit: opts.limit });
        if (runs.length === 0) io.out('no runs');
        for (const r of runs) {
          if (opts.json) io.out(JSON.stringify(r));
          else
            io.out(
              `${r.startedAt.toISOString()}  ${r.sourceId.padEnd(16)} ${r.status.padEnd(16)} ${r.id}${r.finishedAt ? ` (${Math.round((r.finishedAt.getTime() - r.startedAt.getTime()) / 1000)} s)` : ''}`,
            );
        }
      }),
    );

  program
    .command('dead-letters')
    .description('list open dead letters: what could not be processed, and why (payloads are not printed)')
    .option('--source <id>', 'only this source')
    .option('--run <id>', 'only this run')
    .option('--limit <n>', 'at most this many', parseWholeNumber, 50)
    .option('--json', 'one JSON object per line')
    .action((opts: ListOptions) =>
      withStore(async (store) => {
        const letters = await store.listDeadLetters({ sourceId: opts.source, runId: opts.run, limit: opts.limit });
        if (letters.length === 0) io.out('no open dead letters');
        for (const d of letters) {
          const { payload: _payload, ...rest } = d;
          if (opts.json) {
            io.out(JSON.stringify(rest));
            continue;
          }
          io.out(
            `#${d.id} ${d.createdAt.toISOString()} ${d.sourceId} ${d.stage} ${d.resourceType ?? ''}${d.resourceId ? `/${d.resourceId}` : ''}`,
          );
          for (const i of d.outcome.issue ?? [])
            io.out(
              `    ${i.severity} ${i.code}${i.expression?.length ? ` at ${i.expression.join(', ')}` : ''}${(i.details?.text ?? i.diagnostics) ? `: ${i.details?.text ?? i.diagnostics}` : ''}`,
            );
        }
      }),
    );
}

/** The CLI names one source at most (the service reader asks for one). */
const oneSource = (s: SourceScope): string | undefined => (typeof s === 'string' ? s : undefined);
