/**
 * Enrolment written back as EpisodeOfCare (docs/programme.md, "Enrolment over time"), when the source
 * sets `episodesOfCare: true`: one per patient and enrolment spell, `active` while the patient is in
 * the programme, `finished` with the period's end at the run that found them gone. Pure.
 */
import type { EpisodeOfCare } from '@medplum/fhirtypes';
import type { ActionSettings } from '../config/action-settings';
import type { ProgrammeDefinition } from '../config/programme-settings';
import { localDate, UTC } from '../local-time';
import { code, ref, type DesiredUpsert } from './rule';

export function plannedEpisodes(
  patientId: string,
  settings: ActionSettings,
  spells: { enrolled: readonly ProgrammeDefinition[]; left: readonly ProgrammeDefinition[] },
  enrolledAt: ReadonlyMap<string, Date> | undefined,
  now: Date,
): DesiredUpsert[] {
  const episode = (p: ProgrammeDefinition, finished: boolean): DesiredUpsert => {
    const start = enrolledAt?.get(p.id) ?? now;
    const id = `${patientId}/programme-enrolment/${p.id}/${localDate(start.getTime(), p.timeZone ?? UTC)}`;
    const owner = p.actions?.taskOwner ?? settings.taskOwner;
    const resource: EpisodeOfCare = {
      resourceType: 'EpisodeOfCare',
      identifier: [{ system: settings.identifierSystem, value: id }],
      status: finished ? 'finished' : 'active',
      type: [{ ...code(settings, 'programme-enrolment'), text: p.name }],
      patient: ref(`Patient/${patientId}`),
      ...(owner?.startsWith('Organization/') ? { managingOrganization: ref(owner) } : {}),
      period: { start: start.toISOString(), ...(finished ? { end: now.toISOString() } : {}) },
    };
    return {
      op: 'upsert',
      identifier: id,
      rule: 'programme-enrolment',
      patientId,
      resourceType: 'EpisodeOfCare',
      priority: 1,
      resource,
      entities: [`Patient/${patientId}`],
      programme: p.id,
    };
  };
  return [...spells.enrolled.map((p) => episode(p, false)), ...spells.left.map((p) => episode(p, true))];
}
