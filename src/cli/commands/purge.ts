import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { configError, ExitCode } from '../../errors';
import { openStore } from '../../store/open';
import type { CliIo } from '../io';
import { parseWholeNumber } from './sandbox';

/** `fhir-engage purge --older-than <days>`: retention of history and finished records (docs/operations.md). */
export function registerPurgeCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('purge')
    .description('remove history and finished records older than N days: indicator history (the value current at the cut-off is kept), programme history, Task events, sent or failed writes, resolved dead letters, closed written resources, finished runs, access log. Never pulled resources, open dead letters or writes not yet acknowledged')
    .requiredOption('--older-than <days>', 'age in days (at least 1)', parseWholeNumber)
    .action(async (opts: { olderThan: number }) => {
      if (opts.olderThan < 1) throw configError('--older-than must be at least 1 day', ['--older-than']);
      const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      const store = await openStore(config.store);
      try {
        const before = new Date(Date.now() - opts.olderThan * 86_400_000);
        const removed = await store.purgeBefore(before);
        for (const [table, n] of Object.entries(removed)) io.out(`${table.padEnd(20)} ${n} row(s) removed`);
        io.err(`purged what was older than ${before.toISOString()} from ${store.driver.description}`);
        setExit(ExitCode.ok);
      } finally {
        await store.close();
      }
    });
}
