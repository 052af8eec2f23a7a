/**
 * The Questionnaires a source's survey Tasks name, written to its EMR when the source allows it
 * (`writeQuestionnaires`, docs/surveys.md): each form enqueued once per target, url and version (the
 * dedupe key remembers it), sent by the run's dispatch as a conditional create on url and version, so
 * that a form the EMR already has (LOINC's, loaded by the EMR's team) is not made twice.
 */
import type { FormSet } from '../mapping/forms';
import { bareCanonical } from '../mapping/forms';
import type { SourceConfig } from '../config/types';
import type { Store } from '../store/store';
import type { DefinitionPayload } from './outbox-item';

export async function enqueueDefinitions(
  store: Store,
  source: SourceConfig,
  forms: FormSet,
  canonicals: readonly string[],
  identifierSystem: string,
): Promise<number> {
  if (!source.writeQuestionnaires) return 0;
  const target = source.writeTarget?.baseUrl ?? source.baseUrl;
  let added = 0;
  for (const canonical of new Set(canonicals.map(bareCanonical))) {
    const form = forms.get(canonical);
    if (!form) continue;
    const { id: _id, meta: _meta, ...resource } = form;
    const payload: DefinitionPayload = {
      op: 'definition',
      identifierSystem,
      identifier: `questionnaire/${canonical}|${form.version ?? ''}`,
      rule: 'questionnaire-definition',
      patientId: '',
      resourceType: 'Questionnaire',
      resource,
      entities: [],
    };
    const row = await store.enqueuePersonWrite(source.id, {
      target,
      dedupeKey: `${target}|${payload.identifier}`,
      resourceType: 'Questionnaire',
      payload,
    });
    if (row.state === 'pending' && row.attempts === 0) added++;
  }
  return added;
}
