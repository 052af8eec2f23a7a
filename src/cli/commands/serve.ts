import { serveOptions } from '../serve-options';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { configError, ExitCode } from '../../errors';
import { openStore } from '../../store/open';
import { serve } from '../../scheduler/serve';
import type { CliIo } from '../io';
import { parseWholeNumber } from './sandbox';

export function registerServeCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('serve')
    .description('run the service: the HTTP API and every source on its cron schedule, until SIGTERM')
    .option('-p, --port <port>', 'API port (default FHIR_ENGAGE_PORT or 8080)', parseWholeNumber)
    .option('--host <host>', 'address to listen on (default FHIR_ENGAGE_HOST, else 127.0.0.1: this machine only)')
    .action(async (opts: { port?: number; host?: string }) => {
      const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      if (config.sources.length === 0)
        throw configError('no sources are configured: nothing to serve (use `npm start` for the sandbox EMR)');
      const store = await openStore(config.store);
      try {
        await serve(serveOptions(store, config, io, opts));
        setExit(ExitCode.ok);
      } finally {
        await store.close();
      }
    });
}
