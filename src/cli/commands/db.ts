import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import type { Driver } from '../../store/driver';
import { openDriver } from '../../store/open';
import { migrate, migrationStatus } from '../../store/migrate';
import type { CliIo } from '../io';
import { ExitCode } from '../../errors';

export function registerDbCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const db = program.command('db').description('manage the store (PGlite by default, PostgreSQL with DATABASE_URL)');

  /** Opens the configured store (without migrating), runs `fn`, always closes it. */
  const withDriver = async (fn: (driver: Driver) => Promise<number>): Promise<void> => {
    const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
    const driver = await openDriver(config.store);
    try {
      setExit(await fn(driver));
    } finally {
      await driver.close();
    }
  };

  db.command('migrate')
    .description('apply pending schema migrations (idempotent)')
    .action(() =>
      withDriver(async (driver) => {
        const applied = await migrate(driver);
        if (applied.length === 0) {
          io.out(`nothing to do: the schema of ${driver.description} is current`);
        } else {
          for (const name of applied) io.out(`applied ${name}`);
          io.out(`${applied.length} migration(s) applied to ${driver.description}`);
        }
        return ExitCode.ok;
      }),
    );

  db.command('status')
    .description('list applied and pending migrations; exits 1 when the schema is not current')
    .action(() =>
      withDriver(async (driver) => {
        const status = await migrationStatus(driver);
        io.out(`store: ${driver.description}`);
        for (const n of status.applied) io.out(`applied  ${n}`);
        for (const n of status.pending) io.out(`pending  ${n}`);
        for (const n of status.unknown) io.out(`unknown  ${n} (newer than this version of fhir-engage)`);
        return status.pending.length + status.unknown.length === 0 ? ExitCode.ok : ExitCode.failure;
      }),
    );
}
