import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { configError, conflict, EngageError, ExitCode } from '../../errors';
import { LOCK_BUSY } from '../../store/driver';
import { openStore } from '../../store/open';
import type { Store } from '../../store/store';
import type { CliIo } from '../io';
import { parseWholeNumber } from './sandbox';

interface PurgeOptions {
  olderThan?: number;
  source?: string;
  yes?: boolean;
}

/**
 * `fhir-engage purge --older-than <days>`: retention of history and finished records;
 * `fhir-engage purge --source <id> [--yes]`: every row of a source that left the programme
 * (docs/operations.md).
 */
export function registerPurgeCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('purge')
    .description(
      'remove old history and finished records (--older-than N days; never pulled resources, open dead letters or unsent writes), or every row of a source that left the programme (--source ID; counted only unless --yes). See docs/operations.md, "Retention"',
    )
    .option('--older-than <days>', 'age in days (at least 1)', parseWholeNumber)
    .option(
      '--source <id>',
      'a source removed from the sources file: all its rows (pulled resources, models, indicators, writes, dead letters, runs)',
    )
    .option('--yes', 'with --source: remove the rows (without it, only count them)')
    .action(async (opts: PurgeOptions) => {
      if ((opts.olderThan === undefined) === (opts.source === undefined))
        throw configError('purge needs one of --older-than <days> or --source <id>', ['--older-than', '--source']);
      if (opts.yes && opts.source === undefined) throw configError('--yes goes with --source', ['--yes']);
      const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      if (opts.source !== undefined && config.sources.some((s) => s.id === opts.source)) {
        // Its next run would pull it all again: the sources file is where a clinic leaves the programme.
        throw configError(
          `source ${opts.source} is still in the sources file${config.configFile ? ` (${config.configFile})` : ''}: remove it there first, and from any running service, then purge`,
          ['--source'],
        );
      }
      const store = await openStore(config.store);
      try {
        if (opts.olderThan !== undefined) {
          if (opts.olderThan < 1) throw configError('--older-than must be at least 1 day', ['--older-than']);
          const before = new Date(Date.now() - opts.olderThan * 86_400_000);
          const removed = await store.purgeBefore(before);
          for (const [table, n] of Object.entries(removed)) io.out(`${table.padEnd(20)} ${n} row(s) removed`);
          io.err(`purged what was older than ${before.toISOString()} from ${store.driver.description}`);
        } else {
          await purgeSource(store, opts.source as string, !!opts.yes, io);
        }
        setExit(ExitCode.ok);
      } finally {
        await store.close();
      }
    });
}

async function purgeSource(store: Store, sourceId: string, remove: boolean, io: CliIo): Promise<void> {
  const known = (await store.listSources()).map((s) => s.id);
  const rows = await store.purgeSource(sourceId, remove);
  if (rows === LOCK_BUSY)
    throw new EngageError(
      'store',
      conflict(`a sync of ${sourceId} is running: stop it (or the service running it) and purge again`),
    );
  const total = Object.values(rows).reduce((n, r) => n + r, 0);
  if (total === 0 && !known.includes(sourceId)) {
    throw configError(
      `the store holds nothing of a source "${sourceId}"${known.length ? ` (sources in the store: ${known.join(', ')})` : ' (it holds no source)'}`,
      ['--source'],
    );
  }
  for (const [table, n] of Object.entries(rows))
    if (n > 0) io.out(`${table.padEnd(20)} ${n} row(s) ${remove ? 'removed' : 'to remove'}`);
  if (remove)
    io.err(
      `removed source ${sourceId}: ${total} row(s) from ${store.driver.description}; the access log keeps its entries until its own retention`,
    );
  else io.err(`nothing removed: ${total} row(s) of source ${sourceId} would go; run again with --yes to remove them`);
}
