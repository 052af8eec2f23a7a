import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { ExitCode } from '../../errors';
import { newApiKey } from '../../api/auth';
import { openStore } from '../../store/open';
import type { CliIo } from '../io';

/** `fhir-engage api-key new`: a key for the API, of which only the digest is stored; printed once. */
export function registerApiKeyCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('api-key')
    .description('keys of the HTTP API when FHIR_ENGAGE_API_KEY is not set')
    .command('new')
    .description(
      'make an API key, store its SHA-256 digest, print the key once (keys made before stay valid; a running service reads keys at start)',
    )
    .action(async () => {
      const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      const store = await openStore(config.store);
      try {
        const key = await newApiKey(store);
        io.out(key);
        io.err('this API key is shown this once: keep it. Restart a running service to accept it.');
        setExit(ExitCode.ok);
      } finally {
        await store.close();
      }
    });
}
