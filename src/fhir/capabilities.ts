/**
 * What a server says it can do (GET /metadata), reduced to what a pull needs:
 * can each configured type be searched, and does it support _lastUpdated.
 */
import type { CapabilityStatement } from '@medplum/fhirtypes';
import type { FhirClient } from './client';

export interface TypeSupport {
  /** The CapabilityStatement lists the type (or could not be read): it may be asked for, by search or export. */
  listed: boolean;
  searchable: boolean;
  lastUpdated: boolean;
  /** Why the type is limited, in words for the run report. */
  note?: string;
}

export interface CapabilityReport {
  read: boolean;
  /** The server accepts transaction Bundles (rest.interaction "transaction"). */
  transactions: boolean;
  /** The server lists a Bulk Data export operation (system, Patient or Group level). */
  bulkExport: boolean;
  fhirVersion?: string;
  software?: string;
  types: Record<string, TypeSupport>;
  /** What holds whatever the pull method (FHIR version, types not offered). */
  warnings: string[];
  /** What concerns searches only (a type not searchable, no _lastUpdated): not said of a run that pulls by export. */
  searchWarnings: string[];
}

/** Reads /metadata. A server that will not say is assumed to support everything, with a warning. */
export async function readCapabilities(client: FhirClient, types: string[]): Promise<CapabilityReport> {
  let statement: CapabilityStatement;
  try {
    statement = await client.getOk<CapabilityStatement>('metadata');
    if (statement?.resourceType !== 'CapabilityStatement') throw new Error('not a CapabilityStatement');
  } catch (err) {
    const all = Object.fromEntries(types.map((t) => [t, { listed: true, searchable: true, lastUpdated: true }]));
    return {
      read: false,
      transactions: false,
      bulkExport: false,
      types: all,
      warnings: [
        `could not read the CapabilityStatement (${(err as Error).message}); assuming every type is searchable with _lastUpdated`,
      ],
      searchWarnings: [],
    };
  }
  return assessCapabilities(statement, types);
}

/** Pure part of readCapabilities, for tests and for the `validate` of a saved statement. */
export function assessCapabilities(statement: CapabilityStatement, types: string[]): CapabilityReport {
  const warnings: string[] = [];
  const searchWarnings: string[] = [];
  if (statement.fhirVersion && !statement.fhirVersion.startsWith('4.0')) {
    warnings.push(`the server declares FHIR ${statement.fhirVersion}; fhir-engage speaks FHIR R4 (4.0.x)`);
  }
  const server = statement.rest?.find((r) => r.mode === 'server') ?? statement.rest?.[0];
  const result: Record<string, TypeSupport> = {};
  for (const type of types) {
    const entry = server?.resource?.find((r) => r.type === type);
    if (!entry) {
      result[type] = {
        listed: false,
        searchable: false,
        lastUpdated: false,
        note: `the server's CapabilityStatement does not list ${type}`,
      };
      warnings.push(`${type}: not listed in the server's CapabilityStatement; it will not be pulled`);
      continue;
    }
    const interactions = (entry.interaction ?? []).map((i) => i.code);
    const searchable = interactions.length === 0 || interactions.includes('search-type');
    // A server that lists no search parameters at all says nothing either way: try _lastUpdated.
    const params = (entry.searchParam ?? []).map((p) => p.name);
    const lastUpdated = params.length === 0 || params.includes('_lastUpdated');
    const support: TypeSupport = { listed: true, searchable, lastUpdated };
    if (!searchable) {
      support.note = `the server does not support search on ${type}`;
      searchWarnings.push(`${type}: the server does not support search (search-type); it will not be pulled`);
    } else if (!lastUpdated) {
      support.note = `the server does not support _lastUpdated on ${type}: every run pulls it in full`;
      searchWarnings.push(
        `${type}: no _lastUpdated search; falling back to a full pull each run (unchanged resources are still skipped by content hash)`,
      );
    }
    result[type] = support;
  }
  const transactions = (server?.interaction ?? []).some((i) => i.code === 'transaction');
  // Bulk Data IG: `export` at system level, `patient-export`/`group-export` (or `export`) on Patient and Group.
  const isExport = (o: { name?: string; definition?: string }): boolean =>
    /(^|-)export$/.test(o.name ?? '') || /bulkdata|\/(patient-|group-)?export$/.test(o.definition ?? '');
  const bulkExport =
    (server?.operation ?? []).some(isExport) ||
    (server?.resource ?? []).some(
      (r) => (r.type === 'Patient' || r.type === 'Group') && (r.operation ?? []).some(isExport),
    );
  return {
    read: true,
    transactions,
    bulkExport,
    fhirVersion: statement.fhirVersion,
    software: statement.software?.name,
    types: result,
    warnings,
    searchWarnings,
  };
}
