/**
 * The fhir-engage command line. Exit codes: 0 ok, 1 failure, 2 usage or
 * configuration error.
 */
import { Command, CommanderError } from 'commander';
import { describeError, EngageError, ExitCode, isConfigError } from '../errors';
import { createLogger, setLogger } from '../log/logger';
import { startupLogLevel } from '../log/levels';
import type { CliIo } from './io';
import { prettyDestination, type LogFormat } from './log-format';
import { registerConfigCommands } from './commands/config';
import { registerDbCommands } from './commands/db';
import { registerMappingCommands } from './commands/mapping';
import { registerSandboxCommand } from './commands/sandbox';
import { registerSyncCommand } from './commands/sync';
import { registerStartCommand } from './commands/start';
import { registerServeCommand } from './commands/serve';
import { registerInspectCommands } from './commands/inspect';
import { registerValidateCommand } from './commands/validate';
import { registerReportCommand } from './commands/report';
import { registerBenchCommand } from './commands/bench';
import { registerApiKeyCommand } from './commands/api-key';
import { registerKeysCommand } from './commands/keys';
import { registerPurgeCommand } from './commands/purge';
import { registerDoctorCommand } from './commands/doctor';
import { registerApproveCommand } from './commands/approve';
import { version } from '../version';

export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('fhir-engage')
    .description('FHIR R4 integration for patient-engagement programmes: pull, map, score, write back.')
    .version(version(), '-V, --version')
    .option('-c, --config <file>', 'sources file (default: FHIR_ENGAGE_CONFIG or ./fhir-engage.config.yaml)')
    .option(
      '--log-format <format>',
      'what stderr carries: pretty (lines for a person) or json (one record per line); default pretty at a terminal, json otherwise (LOG_FORMAT)',
    )
    .showHelpAfterError('(run fhir-engage --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => (io.error ?? io.err)(s.trimEnd()) })
    .exitOverride();
  registerConfigCommands(program, io, setExit);
  registerDbCommands(program, io, setExit);
  registerMappingCommands(program, io, setExit);
  registerSandboxCommand(program, io, setExit);
  registerSyncCommand(program, io, setExit);
  registerStartCommand(program, io, setExit);
  registerServeCommand(program, io, setExit);
  registerInspectCommands(program, io, setExit);
  registerValidateCommand(program, io, setExit);
  registerReportCommand(program, io, setExit);
  registerBenchCommand(program, io, setExit);
  registerApiKeyCommand(program, io, setExit);
  registerKeysCommand(program, io, setExit);
  registerPurgeCommand(program, io, setExit);
  registerDoctorCommand(program, io, setExit);
  registerApproveCommand(program, io, setExit);
  return program;
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version "fail" with code 0 by design.
    return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  return isConfigError(err) ? ExitCode.usage : ExitCode.failure;
}

/**
 * Runs the CLI and resolves to the exit code; never calls process.exit. `format` (main.ts) says what
 * stderr carries; without it (tests in-process), log records are JSON on stderr and the io is theirs.
 */
export async function runCli(argv: string[], io: CliIo, format?: LogFormat): Promise<number> {
  let code: number = ExitCode.ok;
  // At a terminal the progress lines already say what info logs would; services and CI keep info.
  // An invalid LOG_LEVEL is reported by the configuration check, not by a crash here.
  const level = startupLogLevel(process.env, io.isTTY);
  setLogger(
    createLogger({
      level,
      ...(format === 'pretty'
        ? { destination: prettyDestination((line) => process.stderr.write(`${io.isTTY ? '\r\x1b[2K' : ''}${line}\n`)) }
        : {}),
    }),
  );
  const fail = (line: string): void => (io.error ?? io.err)(line);
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (!(err instanceof CommanderError)) {
      fail(describeError(err));
      if (!(err instanceof EngageError)) {
        // Not one of ours: say so, so that it gets reported rather than guessed at.
        fail('(unexpected error; run with LOG_LEVEL=debug for details)');
        if (process.env.LOG_LEVEL === 'debug' && err instanceof Error && err.stack) fail(err.stack);
      }
    }
    return exitCodeFor(err);
  }
}
