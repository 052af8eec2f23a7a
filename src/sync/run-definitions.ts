/**
 * What a run loads before any work (mappings, scoring, forms: each fails then, not halfway), and the
 * planner's statistics refreshed after a stage added many rows (see Store.analyze).
 */
import { assignedQuestionnaires } from '../config/programme-settings';
import type { AppConfig, SourceConfig } from '../config/types';
import { logger } from '../log/logger';
import { checkAssignedForms, formsOf } from '../mapping/forms';
import { loadMappings, type MappingSet } from '../mapping/load';
import { loadInstruments, type InstrumentDefinition } from '../mapping/scoring';
import type { Store } from '../store/store';

/** Rows added by a stage beyond which the planner's statistics are refreshed. */
export const ANALYZE_AFTER_ROWS = 1_000;

/** Statistics are an optimisation: failing to refresh them never fails a run. */
export async function refreshStatistics(
  store: Store,
  tables: Parameters<Store['analyze']>[0],
  sourceId: string,
): Promise<void> {
  await store
    .analyze(tables)
    .catch((err: unknown) =>
      logger().warn({ err, event: 'analyze-failed', sourceId }, 'could not refresh the store statistics'),
    );
}

/** The source's mappings and instruments; and a survey Task never names a Questionnaire nobody can resolve (docs/surveys.md). */
export function loadDefinitions(
  config: AppConfig,
  source: SourceConfig,
): { mappings: MappingSet; instruments: InstrumentDefinition[] } {
  const mappings = loadMappings({ sourceId: source.id, overridesDir: config.mappingsDir });
  const instruments = loadInstruments({ sourceId: source.id, overridesDir: config.mappingsDir });
  if (source.writeBack)
    checkAssignedForms(
      formsOf(config.mappingsDir),
      assignedQuestionnaires(config.actions.surveys, source),
      `source ${source.id}`,
    );
  return { mappings, instruments };
}
