import path from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { configError, ExitCode } from '../../errors';
import { SANDBOX_AUTH_MODES, type SandboxAuthMode } from '../../sandbox/credentials';
import { parseQuirksArg } from '../../sandbox/quirks';
import { startSeededSandbox, todayAnchor } from '../../sandbox/start';
import type { CliIo } from '../io';

export function parseWholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}


interface SandboxOptions {
  port: number;
  patients: number;
  seed: number;
  auth: string;
  quirks?: string;
  anchor?: string;
  invalid: number;
  fixtures: boolean;
}

export function registerSandboxCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('sandbox')
    .description('serve the built-in sandbox EMR (a FHIR R4 server seeded with fixtures and generated patients) until stopped')
    .option('-p, --port <port>', 'port to listen on (0: any free port)', parseWholeNumber, 8090)
    .option('-n, --patients <n>', 'generated patients', parseWholeNumber, 50)
    .option('-s, --seed <seed>', 'generator seed (same seed and anchor, same data)', parseWholeNumber, 1)
    .option('--anchor <instant>', 'end of the generated year (default: today 00:00 UTC)')
    .option('--auth <mode>', `auth mode: ${SANDBOX_AUTH_MODES.join(' | ')}`, 'open')
    .option('--quirks <list>', 'quirks, e.g. maxPageSize=10,rateLimitEvery=5,opaqueNextLinks,requirePatientFor=Appointment+QuestionnaireResponse')
    .option('--invalid <n>', 'invalid Appointments to serve (for validation tests)', parseWholeNumber, 0)
    .option('--no-fixtures', 'do not load the Synthea and US Core fixtures')
    .action(async (opts: SandboxOptions) => {
      if (!SANDBOX_AUTH_MODES.includes(opts.auth as SandboxAuthMode)) {
        throw configError(`--auth must be one of ${SANDBOX_AUTH_MODES.join(', ')}`, ['--auth']);
      }
      const anchor = opts.anchor ?? todayAnchor();
      if (Number.isNaN(Date.parse(anchor))) throw configError('--anchor must be an ISO instant', ['--anchor']);
      const { server, credentials, seeded } = await startSeededSandbox({
        patients: opts.patients,
        seed: opts.seed,
        anchor,
        auth: opts.auth as SandboxAuthMode,
        credentialsDir: path.resolve('data'),
        port: opts.port,
        quirks: opts.quirks ? parseQuirksArg(opts.quirks) : {},
        fixtures: opts.fixtures,
        invalidResources: opts.invalid,
      });
      io.out(`sandbox EMR listening: ${server.baseUrl}`);
      io.out(`  metadata: ${server.baseUrl}/metadata`);
      for (const line of credentials.describe(server.tokenUrl)) io.out(`  ${line}`);
      io.out(`  seeded in ${Math.round(seeded.durationMs)} ms: ${Object.entries(seeded.loaded).map(([t, n]) => `${t} ${n}`).join(', ')}`);
      io.out('press Ctrl-C to stop');
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      io.out('sandbox stopped');
      setExit(ExitCode.ok);
    });
}
