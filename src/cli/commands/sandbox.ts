import { DEFAULT_SANDBOX_PATIENTS } from '../../sandbox/seed';
import path from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { configError, ExitCode } from '../../errors';
import { SANDBOX_AUTH_MODES, type SandboxAuthMode } from '../../sandbox/credentials';
import { parseQuirksArg } from '../../sandbox/quirks';
import { startSeededSandbox, todayAnchor } from '../../sandbox/start';
import { SANDBOX_SOURCE_ID, startEmbeddedSandbox } from '../../sandbox/embedded';
import { loadConfig } from '../../config/load';
import type { AppConfig } from '../../config/types';
import { openStore } from '../../store/open';
import { runClinicDays } from '../../sandbox/clinic';
import { loadProgrammeReport } from '../../sync/programme';
import { syncSource } from '../../sync/run';
import { formatReport } from '../../indicators/programme-report-format';
import { stopOnSignals } from './sync';

const DAY_MS = 86_400_000;
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
  clientId?: string;
  jwksUrl?: string;
}

export function registerSandboxCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const sandbox = program
    .command('sandbox')
    .description(
      'serve the built-in sandbox EMR (a FHIR R4 server seeded with fixtures and generated patients) until stopped',
    )
    .option('-p, --port <port>', 'port to listen on (0: any free port)', parseWholeNumber, 8090)
    .option('-n, --patients <n>', 'generated patients', parseWholeNumber, DEFAULT_SANDBOX_PATIENTS)
    .option('-s, --seed <seed>', 'generator seed (same seed and anchor, same data)', parseWholeNumber, 1)
    .option('--anchor <instant>', 'end of the generated year (default: today 00:00 UTC)')
    .option('--auth <mode>', `auth mode: ${SANDBOX_AUTH_MODES.join(' | ')}`, 'open')
    .option(
      '--quirks <list>',
      'quirks, e.g. maxPageSize=10,rateLimitEvery=5,opaqueNextLinks,requirePatientFor=Appointment+QuestionnaireResponse',
    )
    .option(
      '--jwks-url <url>',
      'smart-backend: accept the client registered with this JWKS URL (as Epic does; e.g. fhir-engage serve’s /.well-known/jwks.json) instead of a key made here',
    )
    .option('--client-id <id>', 'smart-backend with --jwks-url: the registered client id', 'fhir-engage')
    .option('--invalid <n>', 'invalid Appointments to serve (for validation tests)', parseWholeNumber, 0)
    .option('--no-fixtures', 'do not load the Synthea and US Core fixtures')
    .action((opts: SandboxOptions) => serveSandbox(opts, io, setExit));

  sandbox
    .command('simulate')
    .description(
      'live N days of a clinic on the embedded sandbox EMR and store (appointments kept or missed, reminders sent, surveys answered, care-team work), syncing after each day; prints each day and the programme report',
    )
    .option('-d, --days <n>', 'days to simulate', parseWholeNumber, 14)
    .option('-n, --patients <n>', 'generated patients', parseWholeNumber, DEFAULT_SANDBOX_PATIENTS)
    .option('-s, --seed <seed>', 'seed of the generator and the simulation', parseWholeNumber, 1)
    .option('--reset', 'replace the sandbox data another command (npm start) made in this store')
    .action((opts: SimulateOptions) =>
      simulateClinic(
        ownStore(loadConfig({ configFile: program.opts<{ config?: string }>().config }), io),
        opts,
        io,
        setExit,
      ),
    );
}

/** Serves the seeded sandbox EMR until SIGINT or SIGTERM. */
async function serveSandbox(opts: SandboxOptions, io: CliIo, setExit: (code: number) => void): Promise<void> {
  if (!SANDBOX_AUTH_MODES.includes(opts.auth as SandboxAuthMode)) {
    throw configError(`--auth must be one of ${SANDBOX_AUTH_MODES.join(', ')}`, ['--auth']);
  }
  if (opts.jwksUrl && (opts.auth !== 'smart-backend' || !/^https?:\/\/\S+$/.test(opts.jwksUrl)))
    throw configError('--jwks-url needs --auth smart-backend and an http:// or https:// address', ['--jwks-url']);
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
    ...(opts.jwksUrl ? { registered: { clientId: opts.clientId ?? 'fhir-engage', jwksUrl: opts.jwksUrl } } : {}),
  });
  io.out(`sandbox EMR listening: ${server.baseUrl}`);
  io.out(`  metadata: ${server.baseUrl}/metadata`);
  for (const line of credentials.describe(server.tokenUrl)) io.out(`  ${line}`);
  io.out(
    `  seeded in ${Math.round(seeded.durationMs)} ms: ${Object.entries(seeded.loaded)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ')}`,
  );
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
}

interface SimulateOptions {
  days: number;
  patients: number;
  seed: number;
  reset?: boolean;
}

/** The folder `sandbox simulate` keeps its embedded store in unless FHIR_ENGAGE_DATA_DIR or DATABASE_URL says. */
export const SIMULATION_DATA_DIR = 'data-simulate';

/**
 * A simulation works in a store of its own by default (./data-simulate), never in the one `npm start`
 * and `serve` use (./data): nothing of theirs is replaced, and a running service does not stand in the way.
 */
function ownStore(config: AppConfig, io: CliIo): AppConfig {
  if (config.store.databaseUrl || process.env.FHIR_ENGAGE_DATA_DIR) return config;
  const dataDir = path.resolve(SIMULATION_DATA_DIR);
  io.err(`simulating in its own store, ./${SIMULATION_DATA_DIR} (FHIR_ENGAGE_DATA_DIR chooses another)`);
  return { ...config, store: { ...config.store, dataDir } };
}

/** Lives `days` days of a clinic on the embedded sandbox and store, syncing after each; prints each day and the report. */
async function simulateClinic(
  config: AppConfig,
  opts: SimulateOptions,
  io: CliIo,
  setExit: (code: number) => void,
): Promise<void> {
  const store = await openStore(config.store);
  // The sandbox's data of this store may be what `npm start` made (its runs, its writes): never replaced by surprise.
  if (!opts.reset && (await store.listRuns({ sourceId: SANDBOX_SOURCE_ID, limit: 1 })).length > 0) {
    await store.close();
    throw configError(
      `the store (${config.store.databaseUrl ? 'DATABASE_URL' : config.store.dataDir}) already holds the built-in sandbox's data (made by npm start or an earlier simulation): \`sandbox simulate\` replaces it — add --reset, or set FHIR_ENGAGE_DATA_DIR to another folder`,
      ['--reset'],
    );
  }
  const anchor = new Date(Date.parse(todayAnchor()) - opts.days * DAY_MS);
  const embedded = await startEmbeddedSandbox({
    patients: opts.patients,
    seed: opts.seed,
    dataDir: config.store.dataDir,
    now: anchor,
  });
  const stop = stopOnSignals(io);
  try {
    await store.resetSourceData(embedded.source.id);
    const cfg = { ...config, sources: [embedded.source] };
    const first = await syncSource(store, cfg, embedded.source, { asOf: anchor, signal: stop.signal });
    io.out(`day 0 (${anchor.toISOString().slice(0, 10)}): first sync ${first.status}, ${first.planned} writes`);
    const lived = await runClinicDays({
      store,
      config: cfg,
      source: embedded.source,
      repo: embedded.repo,
      after: new Date(anchor.getTime() - DAY_MS),
      days: opts.days,
      seed: opts.seed,
      signal: stop.signal,
      onDay: (d, s) =>
        io.out(
          `${d.day}: ${d.kept} appointment(s) kept, ${d.noShows} no-show(s), ${d.cancelled} cancelled, ${d.rescheduled} rescheduled, ${d.booked} booked, ${d.remindersSent} reminders sent, ${d.surveysAnswered} surveys answered, ${d.tasksAccepted} Tasks accepted and ${d.tasksCompleted} completed by the care team, ${d.newPatients} new patient(s); sync ${s.status}, ${s.planned} write(s) planned`,
        ),
    });
    const end = new Date(anchor.getTime() + lived.days.length * DAY_MS);
    io.out(
      formatReport(
        await loadProgrammeReport(store, cfg, { from: anchor, to: end, sourceId: embedded.source.id }),
        'md',
        'the simulated clinic',
      ).trimEnd(),
    );
    setExit(
      [first, ...lived.summaries].every((s) => s.status === 'succeeded') && !stop.signal.aborted
        ? ExitCode.ok
        : ExitCode.failure,
    );
  } finally {
    stop.dispose();
    await embedded.close();
    await store.close();
  }
}
