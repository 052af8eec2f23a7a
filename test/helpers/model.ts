/** Engagement models and written rows for the pure rule and indicator tests. */
import type { EngagementModel } from '../../src/mapping/model';
import type { WrittenResource } from '../../src/store/types';

/** A model of patient p1 of source s with nothing in it but `parts`. */
export function emptyModel(parts: Partial<EngagementModel> = {}): EngagementModel {
  return {
    sourceId: 's',
    patientId: 'p1',
    patient: {},
    appointments: [],
    carePlans: [],
    activities: [],
    responses: [],
    requests: [],
    ...parts,
  };
}

/** An open Task fhir-engage wrote for p1 (status requested), with `over` changed. */
export function writtenTask(
  identifierValue: string,
  rule: string,
  over: Partial<WrittenResource> = {},
): WrittenResource {
  return {
    sourceId: 's',
    identifierValue,
    resourceType: 'Task',
    patientId: 'p1',
    rule,
    target: 't',
    serverId: 'x1',
    versionId: '1',
    contentHash: 'h',
    status: 'requested',
    state: 'open',
    runId: 'r',
    updatedAt: new Date('2026-06-01T00:00:00Z'),
    ...over,
  };
}
