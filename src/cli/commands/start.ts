import { DEFAULT_SANDBOX_PATIENTS } from '../../sandbox/seed';
import { serveOptions } from '../serve-options';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { ExitCode } from '../../errors';
import { startEmbeddedSandbox, type EmbeddedSandbox } from '../../sandbox/embedded';
import { todayAnchor } from '../../sandbox/start';
import { runClinicDays, type SurveyPageHooks } from '../../sandbox/clinic';
import { formatSummary } from '../format';
import type { SyncSummary } from '../../sync/events';
import { openStore } from '../../store/open';
import type { Store } from '../../store/store';
import type { AppConfig } from '../../config/types';
import type { CliIo } from '../io';
import { jsonSummary, runSyncs, stopOnSignals, type SyncCliOptions } from './sync';
import { parseWholeNumber } from './sandbox';
import { serve } from '../../scheduler/serve';
import express from 'express';
import { listen } from '../../listen';
import { messagingHooks } from '../../api/messaging-hooks';
import { patientFacing } from '../../api/app';
import type { SurveySubmission } from '../../sync/survey-submission';

interface StartOptions extends SyncCliOptions {
  once?: boolean;
  patients: number;
  seed: number;
  port?: number;
  host?: string;
  simulateDays: number;
}

const DAY_MS = 86_400_000;

export function registerStartCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('start')
    .description(
      'the main job: with no EMR configured, sync the built-in sandbox EMR and keep serving; with sources configured, serve them (with --once: sync them once and exit)',
    )
    .option('--once', 'exit after the first sync and its summary')
    .option('--json', 'print the summary as one JSON object on the last line of stdout')
    .option('--as-of <instant>', 'the instant indicators are computed at (default now)')
    .option('-n, --patients <n>', 'sandbox: generated patients', parseWholeNumber, DEFAULT_SANDBOX_PATIENTS)
    .option('-s, --seed <seed>', 'sandbox: generator seed', parseWholeNumber, 1)
    .option('-p, --port <port>', 'API port (0: any free port; default FHIR_ENGAGE_PORT or 8080)', parseWholeNumber)
    .option('--host <host>', 'address the API listens on (default FHIR_ENGAGE_HOST, else 127.0.0.1: this machine only)')
    .option(
      '--simulate-days <n>',
      'sandbox: days of clinic life simulated (each followed by a sync) before serving, so the programme has history; 0 to skip',
      parseWholeNumber,
      14,
    )
    .action(async (opts: StartOptions) => {
      const loaded = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      const store = await openStore(loaded.store);
      let sandbox: { sandbox: EmbeddedSandbox; anchor: Date; config: AppConfig; hooks: HooksListener } | undefined;
      try {
        if (loaded.sources.length > 0 && !opts.once) {
          // EMRs configured: the service, on their schedules (a sync can also be triggered through the API).
          await serve(serveOptions(store, loaded, io, opts));
          setExit(ExitCode.ok);
          return;
        }
        if (loaded.sources.length === 0) sandbox = await startSandboxSource(store, loaded, opts, io);
        const config = sandbox?.config ?? loaded;
        const stop = stopOnSignals(io);
        const first = await runSyncs(
          store,
          config,
          config.sources,
          { ...opts, asOf: opts.asOf ?? sandbox?.anchor.toISOString() },
          io,
          stop.signal,
        ).finally(stop.dispose);
        let { code, summaries } = first;
        let interrupted = stop.signal.aborted;
        if (sandbox && opts.simulateDays > 0 && !interrupted) {
          const lived = await liveClinicDays(store, sandbox, opts, io);
          summaries = lived.summaries.length ? [lived.summaries[lived.summaries.length - 1] as SyncSummary] : summaries;
          code = summaries.every((s) => s.status === 'succeeded') ? code : ExitCode.failure;
          for (const line of formatSummary(summaries[0] as SyncSummary)) io.out(line);
          interrupted = lived.interrupted;
        }
        if (opts.json) io.out(jsonSummary(summaries));
        // The service takes the port (and the callbacks) from here.
        await sandbox?.hooks.close();
        // Stopped while syncing: do not go on to serve.
        if (opts.once || interrupted) {
          setExit(code);
          return;
        }
        await serve({
          ...serveOptions(store, config, io, opts),
          ...(sandbox?.hooks ? { port: Number(new URL(sandbox.hooks.publicUrl).port) } : {}),
          initialRuns: summaries,
        });
        setExit(ExitCode.ok);
      } finally {
        await sandbox?.hooks.close();
        await sandbox?.sandbox.close();
        await store.close();
      }
    });
}

/**
 * No EMR configured: the built-in sandbox, whose generated year ends `simulateDays` ago; the simulated
 * days bring the clinic up to today (FHIR_ENGAGE_AS_OF's day when set: the as-of instant of every
 * run, so of the clinic's calendar too).
 */
async function startSandboxSource(
  store: Store,
  loaded: AppConfig,
  opts: StartOptions,
  io: CliIo,
): Promise<{ sandbox: EmbeddedSandbox; anchor: Date; config: AppConfig; hooks: HooksListener }> {
  io.err('no EMR configured: starting the built-in sandbox EMR…');
  const today = Date.parse(todayAnchor(loaded.asOf));
  const anchor = new Date(today - opts.simulateDays * DAY_MS);
  // The SMS stand-in's callbacks reach fhir-engage while it syncs, before the service starts on the same port.
  const hooks = await listenForHooks(store, loaded, opts);
  const sandbox = await startEmbeddedSandbox({
    patients: opts.patients,
    seed: opts.seed,
    dataDir: loaded.store.dataDir,
    now: anchor,
    publicUrl: hooks.publicUrl,
  }).catch(async (err: unknown) => {
    await hooks.close();
    throw err;
  });
  // A new sandbox is a new EMR: what was pulled from and written to the last one no longer applies.
  await store.resetSourceData(sandbox.source.id).catch(async (err: unknown) => {
    await sandbox.close();
    await hooks.close();
    throw err;
  });
  io.err(`sandbox EMR at ${sandbox.server.baseUrl} (seeded in ${Math.round(sandbox.seededMs)} ms)`);
  if (sandbox.mail)
    io.err(
      `reminders go to patients by SMS (the sandbox's Twilio stand-in at ${sandbox.server.sms.apiBaseUrl}) and email (its mail catcher on port ${sandbox.mail.port})`,
    );
  const config = {
    ...loaded,
    sources: [sandbox.source],
    ...(sandbox.messaging ? { messaging: sandbox.messaging } : {}),
  };
  hooks.use(config);
  return { sandbox, anchor, config, hooks };
}

interface HooksListener {
  publicUrl: string;
  surveys: SurveyPageHooks;
  /** The configuration the callbacks are checked against (the sandbox's messaging). */
  use(config: AppConfig): void;
  close(): Promise<void>;
}

/** Providers' callbacks only (signed), on the port the service will take once the first syncs are done. */
async function listenForHooks(store: Store, loaded: AppConfig, opts: StartOptions): Promise<HooksListener> {
  let hooks = messagingHooks(store, loaded);
  // The survey page too (the simulated patients answer through it), on the simulated day's clock.
  const surveys: SurveyPageHooks = { clock: {}, followUps: [] };
  const surveyHooks = {
    now: () => surveys.clock.at ?? new Date(),
    onSubmission: (s: SurveySubmission) => void surveys.followUps.push(s.followUp),
  };
  let patients = patientFacing(store, loaded, surveyHooks);
  const app = express();
  app.use((req, res, next) => hooks(req, res, next));
  app.use((req, res, next) => patients(req, res, next));
  const host = opts.host ?? loaded.service.host;
  const { server, port } = await listen(app, opts.port ?? loaded.service.port, host, '--port or FHIR_ENGAGE_PORT');
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    publicUrl: `http://${shown}:${port}`,
    surveys,
    use: (c) => {
      hooks = messagingHooks(store, c);
      patients = patientFacing(store, c, surveyHooks);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The sandbox clinic's days since the anchor, each followed by a sync. */
async function liveClinicDays(
  store: Store,
  {
    sandbox,
    anchor,
    config,
    hooks,
  }: { sandbox: EmbeddedSandbox; anchor: Date; config: AppConfig; hooks: HooksListener },
  opts: StartOptions,
  io: CliIo,
): Promise<{ summaries: SyncSummary[]; interrupted: boolean }> {
  io.err(`simulating ${opts.simulateDays} day(s) of clinic life, each followed by a sync…`);
  const days = stopOnSignals(io);
  const lived = await runClinicDays({
    store,
    config,
    source: sandbox.source,
    repo: sandbox.repo,
    after: new Date(anchor.getTime() - DAY_MS),
    days: opts.simulateDays,
    seed: opts.seed,
    signal: days.signal,
    ...(sandbox.messaging ? { sms: sandbox.server.sms, surveys: hooks.surveys } : {}),
    ...(sandbox.mail ? { mail: sandbox.mail } : {}),
    onDay: (d, s) =>
      io.err(
        `  ${d.day}: ${d.kept} appointment(s) kept, ${d.noShows} no-show(s), ${d.remindersSent} reminder(s) sent${sandbox.messaging ? ' by fhir-engage (SMS, email)' : ''}, ${d.surveysAnswered} surveys answered${d.surveysAnsweredByLink ? ` (${d.surveysAnsweredByLink} through the survey page)` : ''}, ${d.tasksCompleted} Tasks completed by the care team, ${d.newPatients} new patient(s); sync ${s.status}, ${s.planned} write(s) planned`,
      ),
  }).finally(days.dispose);
  return { summaries: lived.summaries, interrupted: days.signal.aborted };
}
