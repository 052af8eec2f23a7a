/**
 * `fhir-engage doctor`: checks a source step by step before any sync —
 * reachability (DNS, TLS, proxy), the CapabilityStatement, SMART discovery,
 * the token request, one search per type, and write permission — and says
 * for each failure what is wrong and how to fix it. Nothing is stored; with
 * `writeTest`, one clearly labelled test Task is created and cancelled.
 * The steps are in doctor-steps.ts.
 */
import type { SourceConfig } from '../config/types';
import type { Diagnosis } from './doctor-explain';
import {
  checkBulkKickOff,
  checkMetadata,
  checkSearches,
  checkToken,
  checkTransport,
  checkWrites,
  type DoctorRun,
} from './doctor-steps';
import { createSourceClient, newTransportStats } from './source-client';

export { explainNetworkError, explainTokenError, type Check, type CheckStatus, type Diagnosis } from './doctor-explain';

export async function diagnoseSource(source: SourceConfig, options: { writeTest?: boolean } = {}): Promise<Diagnosis> {
  const stats = newTransportStats();
  const d: DoctorRun = {
    source,
    host: new URL(source.baseUrl).host,
    client: createSourceClient({ ...source, maxRetries: 0 }, stats),
    open: createSourceClient({ ...source, auth: { type: 'none' }, maxRetries: 0 }, stats),
    stats,
    bulkOnly: source.pull.method === 'bulk',
    checks: [],
  };
  const result = (): Diagnosis => ({
    sourceId: source.id,
    ok: !d.checks.some((c) => c.status === 'fail'),
    checks: d.checks,
  });
  checkTransport(d);
  const metadata = await checkMetadata(d);
  if (!metadata) return result();
  if (!(await checkToken(d))) return result();
  // 5. What the configured pull method needs: a kick-off for a bulk-only source, else one search per type.
  if (d.bulkOnly) await checkBulkKickOff(d, metadata.caps);
  else await checkSearches(d);
  if (source.writeBack) await checkWrites(d, !!options.writeTest);
  return result();
}
