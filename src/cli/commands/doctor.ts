import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { ExitCode } from '../../errors';
import { diagnoseSource, type Check } from '../../fhir/doctor';
import type { CliIo } from '../io';
import { selectSources } from './sync';
import { startEmbeddedSandbox } from '../../sandbox/embedded';

const MARK: Record<Check['status'], string> = { ok: '✓', warn: '!', fail: '✗', skip: '-' };

/** `fhir-engage doctor [--source id] [--write-test] [--json]`: would a sync work, and if not, why and what to change. */
export function registerDoctorCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('doctor')
    .description(
      'check each source before syncing: reachability (DNS, TLS, proxy), CapabilityStatement, SMART discovery, token and scopes, one search per type, write permission; exits 0 only when a sync would work',
    )
    .option('-s, --source <id...>', 'only these sources')
    .option('--write-test', 'also create one clearly labelled test Task on the write target and cancel it')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { source?: string[]; writeTest?: boolean; json?: boolean }) => {
      const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      // No sources file: the path `npm start` takes — the built-in sandbox EMR — is checked instead.
      const sandbox =
        config.sources.length === 0 && !opts.source
          ? await startEmbeddedSandbox({ patients: 10, seed: 1, dataDir: config.store.dataDir })
          : undefined;
      if (sandbox && !opts.json)
        io.out(
          'No sources file: checking the built-in sandbox EMR, the one `npm start` syncs when no EMR is configured.',
        );
      const sources = sandbox ? [sandbox.source] : selectSources(config, opts.source);
      const results: Awaited<ReturnType<typeof diagnoseSource>>[] = [];
      try {
        await diagnoseAll();
      } finally {
        await sandbox?.close();
      }
      if (sandbox && !opts.json)
        io.out(
          'To connect your EMR: write fhir-engage.config.yaml (README, "Connect your EMR"; `fhir-engage config check` checks it), then run `fhir-engage doctor` again.',
        );
      if (opts.json) io.out(JSON.stringify({ ok: results.every((r) => r.ok), sources: results }));
      setExit(results.every((r) => r.ok) ? ExitCode.ok : ExitCode.failure);

      async function diagnoseAll(): Promise<void> {
        for (const source of sources) {
          const d = await diagnoseSource(source, { writeTest: opts.writeTest });
          results.push(d);
          if (opts.json) continue;
          io.out(`${source.id} (${source.baseUrl}): ${d.ok ? 'a sync would work' : 'a sync would NOT work'}`);
          for (const c of d.checks) {
            io.out(`  ${MARK[c.status]} ${c.step}: ${c.detail}`);
            if (c.fix && c.status !== 'ok') io.out(`      fix: ${c.fix}`);
          }
        }
      }
    });
}
