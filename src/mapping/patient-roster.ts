/**
 * Which patients fhir-engage may compute and write for: only those the EMR
 * returned as Patient resources, and of a merged pair only the survivor.
 *
 * EMRs merge duplicate records by marking the old one with
 * `Patient.link.type = replaced-by` pointing at the surviving record
 * (FHIR R4 Patient.link, https://hl7.org/fhir/R4/patient-definitions.html#Patient.link).
 * The replaced record is not a patient of its own: its appointments and
 * responses count for the survivor, and nothing is written about it.
 * Pure: no I/O.
 */
import type { PatientLink, Resource } from '@medplum/fhirtypes';
import { patientIdFromReference } from './patient-of';

export interface RosterEntry {
  id: string;
  link?: PatientLink[];
}

export interface PatientRoster {
  /** Patient ids the source returned. */
  known: ReadonlySet<string>;
  /** Replaced record → the record that survives it (chains followed to their end). */
  survivorOf: ReadonlyMap<string, string>;
}

/** How one run treats the patients whose data changed. */
export interface ComputePlan {
  /** Patients to compute, each with the ids whose resources count for them (itself first). */
  compute: { patientId: string; dataOf: string[] }[];
  /** Replaced records: no indicators, nothing written; their open Tasks are closed. */
  merged: string[];
  /** Ids that resources refer to but the source never returned as a Patient. */
  unknown: string[];
}

/** Longest chain of merges followed; a longer one (or a cycle) is treated as broken. */
const MAX_MERGE_CHAIN = 10;

export function buildRoster(patients: RosterEntry[]): PatientRoster {
  const known = new Set(patients.map((p) => p.id));
  const direct = new Map<string, string>();
  for (const p of patients) {
    const target = (p.link ?? [])
      .filter((l) => l.type === 'replaced-by')
      .map((l) => patientIdFromReference(l.other?.reference))
      .find((id) => id && id !== p.id);
    if (target) direct.set(p.id, target);
  }
  const survivorOf = new Map<string, string>();
  for (const id of direct.keys()) {
    let current = id;
    for (let hops = 0; hops < MAX_MERGE_CHAIN && direct.has(current); hops++) current = direct.get(current) as string;
    // A cycle or an over-long chain has no survivor: the record is still replaced, its data counts for nobody.
    survivorOf.set(id, direct.has(current) ? '' : current);
  }
  return { known, survivorOf };
}

/**
 * Splits the patients to recompute into survivors to compute (with the
 * replaced records whose data they inherit), replaced records, and unknown ids.
 */
export function planCompute(pending: string[], roster: PatientRoster): ComputePlan {
  const replacedBy = new Map<string, string[]>();
  for (const [replaced, survivor] of roster.survivorOf) {
    if (survivor) replacedBy.set(survivor, [...(replacedBy.get(survivor) ?? []), replaced]);
  }
  const compute = new Map<string, string[]>();
  const merged = new Set<string>();
  const unknown = new Set<string>();
  const add = (id: string): void => {
    if (!roster.known.has(id)) {
      unknown.add(id);
      return;
    }
    if (!compute.has(id)) compute.set(id, [id, ...(replacedBy.get(id) ?? []).sort()]);
  };
  for (const id of pending) {
    const survivor = roster.survivorOf.get(id);
    if (survivor === undefined) {
      add(id);
      continue;
    }
    if (roster.known.has(id)) merged.add(id);
    else unknown.add(id);
    if (survivor) add(survivor);
  }
  return {
    compute: [...compute]
      .map(([patientId, dataOf]) => ({ patientId, dataOf }))
      .sort((a, b) => (a.patientId < b.patientId ? -1 : 1)),
    merged: [...merged].sort(),
    unknown: [...unknown].sort(),
  };
}

/** What one computed patient's model is built from: its own Patient record, and everything else stored for it and the records it replaced. */
export function resourcesOfUnit(
  unit: { patientId: string; dataOf: string[] },
  byPatient: ReadonlyMap<string, Resource[]>,
): Resource[] {
  return unit.dataOf
    .flatMap((id) => byPatient.get(id) ?? [])
    .filter((r) => r.resourceType !== 'Patient' || r.id === unit.patientId);
}
