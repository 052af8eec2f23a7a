/** What the EMR and the store hold after a run, counted the same way by every part of the suite. */
import type { Resource } from '@medplum/fhirtypes';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';

const PULLED = ['Patient', 'Appointment', 'CarePlan', 'QuestionnaireResponse'] as const;

function ourIdentifier(r: Resource): string | undefined {
  return ((r as { identifier?: { system?: string; value?: string }[] }).identifier ?? []).find(
    (i) => i.system === DEFAULT_ACTION_SETTINGS.identifierSystem,
  )?.value;
}

export interface Reconciliation {
  /** Per type: served by the EMR, stored, dead-lettered (open, by resource id), lost = served − stored − dead-lettered. */
  types: Record<string, { served: number; stored: number; deadLettered: number; lost: number }>;
  lost: number;
  written: number;
  duplicates: number;
  withoutProvenance: number;
}

/** Resources the EMR serves against what the store kept; fhir-engage's writes in the EMR, each once, each with a Provenance. */
export async function reconcile(emr: SandboxServer, store: Store, sourceId: string): Promise<Reconciliation> {
  const counts = await store.countResources(sourceId);
  const letters = await store.listDeadLetters({ sourceId, limit: 100_000 });
  const types: Reconciliation['types'] = {};
  let lost = 0;
  for (const type of PULLED) {
    // Written Tasks are read back as resources too; the EMR's own resources of the pulled types are the ones to account for.
    const served = emr.repo.all(type).filter((r) => !ourIdentifier(r)).length;
    const dead = new Set(
      letters
        .filter(
          (d) =>
            d.resourceType === type &&
            d.resourceId &&
            (d.stage === 'validate' || d.stage === 'pull' || d.stage === 'map'),
        )
        .map((d) => d.resourceId),
    ).size;
    const stored = counts[type] ?? 0;
    const missing = Math.max(0, served - stored - dead);
    lost += missing;
    types[type] = { served, stored, deadLettered: dead, lost: missing };
  }
  const ours = [...emr.repo.all('Task'), ...emr.repo.all('Observation')].filter((r) => ourIdentifier(r));
  const ids = ours.map((r) => ourIdentifier(r) as string);
  const targets = new Set(
    emr.repo
      .all('Provenance')
      .flatMap((p) =>
        ((p as { target?: { reference?: string }[] }).target ?? []).map((t) =>
          (t.reference ?? '').replace(/\/_history\/.*$/, ''),
        ),
      ),
  );
  return {
    types,
    lost,
    written: ours.length,
    duplicates: ids.length - new Set(ids).size,
    withoutProvenance: ours.filter((r) => !targets.has(`${r.resourceType}/${r.id}`)).length,
  };
}
