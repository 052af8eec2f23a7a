import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { ExitCode } from '../../errors';
import { startEmbeddedSandbox } from '../../sandbox/embedded';
import { openStore } from '../../store/open';
import type { CliIo } from '../io';
import { jsonSummary, runSyncs, stopOnSignals, type SyncCliOptions } from './sync';
import { parseWholeNumber } from './sandbox';
import { serve } from '../../scheduler/serve';

interface StartOptions extends SyncCliOptions {
  once?: boolean;
  patients: number;
  seed: number;
  port?: number;
}

export function registerStartCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('start')
    .description('the main job: with no EMR configured, sync the built-in sandbox EMR and keep serving; with sources configured, serve them (with --once: sync them once and exit)')
    .option('--once', 'exit after the first sync and its summary')
    .option('--json', 'print the summary as one JSON object on the last line of stdout')
    .option('--as-of <instant>', 'the instant indicators are computed at (default now)')
    .option('-n, --patients <n>', 'sandbox: generated patients', parseWholeNumber, 100)
    .option('-s, --seed <seed>', 'sandbox: generator seed', parseWholeNumber, 1)
    .option('-p, --port <port>', 'API port (0: any free port; default FHIR_ENGAGE_PORT or 8080)', parseWholeNumber)
    .action(async (opts: StartOptions) => {
      const loaded = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      const store = await openStore(loaded.store);
      let stopSandbox: (() => Promise<void>) | undefined;
      try {
        let config = loaded;
        if (loaded.sources.length > 0 && !opts.once) {
          // EMRs configured: the service, on their schedules (a sync can also be triggered through the API).
          await serve({ store, config, say: (line) => io.err(line), port: opts.port ?? config.service.port });
          setExit(ExitCode.ok);
          return;
        }
        if (loaded.sources.length === 0) {
          io.err('no EMR configured: starting the built-in sandbox EMR…');
          const sandbox = await startEmbeddedSandbox({ patients: opts.patients, seed: opts.seed, dataDir: loaded.store.dataDir });
          stopSandbox = () => sandbox.server.close();
          // A new sandbox is a new EMR: what was pulled from and written to the last one no longer applies.
          await store.resetSourceData(sandbox.source.id);
          io.err(`sandbox EMR at ${sandbox.server.baseUrl} (seeded in ${Math.round(sandbox.seededMs)} ms)`);
          config = { ...loaded, sources: [sandbox.source] };
        }
        const stop = stopOnSignals(io);
        const { code, summaries } = await runSyncs(store, config, config.sources, opts, io, stop.signal).finally(stop.dispose);
        if (opts.json) io.out(jsonSummary(summaries));
        // Stopped during the first sync: do not go on to serve.
        if (opts.once || stop.signal.aborted) {
          setExit(code);
          return;
        }
        await serve({ store, config, say: (line) => io.err(line), port: opts.port ?? config.service.port, initialRuns: summaries });
        setExit(ExitCode.ok);
      } finally {
        await stopSandbox?.();
        await store.close();
      }
    });
}
