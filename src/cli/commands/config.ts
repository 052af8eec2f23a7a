import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import type { AppConfig, SourceConfig } from '../../config/types';
import { describeUrl } from '../../store/pg-driver';
import type { CliIo } from '../io';
import { configErrors, EngageError, ExitCode } from '../../errors';
import { loadMappings } from '../../mapping/load';
import { loadInstruments } from '../../mapping/scoring';
import { checkAssignedForms, loadForms } from '../../mapping/forms';
import { assignedQuestionnaires } from '../../config/programme-settings';
import { engagementCodeSystem } from '../../actions/codesystem';
import { registerConfigInitCommand } from './config-init';

function describeSource(s: SourceConfig): string {
  const parts = [
    `auth ${s.auth.type}`,
    `mode ${s.mode}`,
    `types ${s.resourceTypes.join(',')}`,
    `page size ${s.pageSize}`,
    s.schedule ? `schedule "${s.schedule}"` : 'on demand',
  ];
  if (s.writeTarget) parts.push(`writes to ${s.writeTarget.baseUrl}`);
  if (!s.writeBack) parts.push('write-back off');
  return `  ${s.id}: ${s.baseUrl} (${parts.join('; ')})`;
}

/** A readable summary of a loaded configuration; never prints secrets. */
export function describeConfig(config: AppConfig): string[] {
  const lines = [
    config.configFile
      ? `sources file: ${config.configFile}`
      : 'sources file: none (npm start syncs the built-in sandbox EMR)',
    config.store.databaseUrl
      ? `store: PostgreSQL ${describeUrl(config.store.databaseUrl)} (schema ${config.store.schema})`
      : `store: embedded PGlite in ${config.store.dataDir}`,
    `sources: ${config.sources.length}`,
    ...config.sources.map(describeSource),
  ];
  return lines;
}

/**
 * Every source's mappings and questionnaire scoring, defaults with its overrides, loaded as a sync
 * would load them: a broken override is found here rather than at the next scheduled run. All
 * problems of all sources are reported together, each once.
 */
function checkMappings(config: AppConfig): void {
  const issues = new Map<string, { text: string; expression?: string[] }>();
  for (const sourceId of [undefined, ...config.sources.map((s) => s.id)]) {
    for (const load of [loadMappings, loadInstruments]) {
      try {
        load({ sourceId, overridesDir: config.mappingsDir });
      } catch (err) {
        if (!(err instanceof EngageError)) throw err;
        for (const issue of err.outcome.issue) {
          const text = issue.details?.text ?? issue.diagnostics ?? 'invalid';
          issues.set(text, { text, ...(issue.expression ? { expression: issue.expression } : {}) });
        }
      }
    }
  }
  try {
    const forms = loadForms({ overridesDir: config.mappingsDir });
    for (const source of config.sources)
      checkAssignedForms(forms, assignedQuestionnaires(config.actions.surveys, source), `source ${source.id}`);
  } catch (err) {
    if (!(err instanceof EngageError)) throw err;
    for (const issue of err.outcome.issue) {
      const text = issue.details?.text ?? issue.diagnostics ?? 'invalid';
      issues.set(text, { text });
    }
  }
  if (issues.size > 0) throw configErrors([...issues.values()]);
}

export function registerConfigCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const config = program.command('config').description('inspect the configuration');
  config
    .command('codesystem')
    .description("print fhir-engage's CodeSystem (the codes of the Tasks and Observations it writes) as FHIR JSON")
    .action(() => {
      const loaded = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      io.out(JSON.stringify(engagementCodeSystem(loaded.actions.codeSystem), null, 2));
      setExit(ExitCode.ok);
    });
  config
    .command('check')
    .description('validate the environment and the sources file; exits 2 when invalid')
    .option('-c, --config <file>', 'sources file (default: FHIR_ENGAGE_CONFIG or ./fhir-engage.config.yaml)')
    .action((opts: { config?: string }) => {
      const loaded = loadConfig({ configFile: opts.config ?? program.opts<{ config?: string }>().config });
      for (const line of describeConfig(loaded)) io.out(line);
      checkMappings(loaded);
      io.out(
        `mappings, questionnaire scoring and forms OK${loaded.mappingsDir ? ` (overrides from ${loaded.mappingsDir})` : ''}`,
      );
      io.out('configuration OK');
      setExit(ExitCode.ok);
    });
  registerConfigInitCommand(config, io, setExit);
}
