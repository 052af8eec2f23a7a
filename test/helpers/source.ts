import { DEFAULT_PULL, type AuthConfig, type SourceConfig } from '../../src/config/types';

export function testSource(
  overrides: Partial<SourceConfig> & { baseUrl: string },
  auth: AuthConfig = { type: 'none' },
): SourceConfig {
  return {
    id: 'src',
    auth,
    resourceTypes: ['Patient', 'Appointment', 'CarePlan', 'QuestionnaireResponse'],
    pageSize: 100,
    mode: 'system',
    rateLimit: { requestsPerSecond: 1000, concurrency: 4 },
    timeoutMs: 5000,
    maxRetries: 3,
    overlapSeconds: 300,
    writeBatchSize: 50,
    writeBack: true,
    // Tests write on the first run unless they test the hold (docs/programme.md).
    approval: { firstRun: 'write' },
    pull: DEFAULT_PULL,
    ...overrides,
  };
}

/** A source pulled by Bulk Data `$export` from a sandbox, without write-back. */
export function bulkSource(emr: { baseUrl: string }, id: string, extra: Partial<SourceConfig> = {}): SourceConfig {
  return testSource({
    id,
    baseUrl: emr.baseUrl,
    writeBack: false,
    pull: { ...DEFAULT_PULL, method: 'bulk' },
    ...extra,
  });
}
