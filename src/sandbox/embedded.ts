/**
 * The sandbox EMR as `npm start` runs it when no EMR is configured: served
 * in-process on an ephemeral port, seeded with the fixtures and generated
 * patients whose year ends today, behind OAuth2 client_credentials.
 */
import path from 'node:path';
import { DEFAULT_PULL, type SourceConfig } from '../config/types';
import type { SandboxServer } from './server';
import type { SandboxRepository } from './repository';
import { startSeededSandbox, todayAnchor } from './start';

export const SANDBOX_SOURCE_ID = 'sandbox';

export interface EmbeddedSandbox {
  server: SandboxServer;
  repo: SandboxRepository;
  source: SourceConfig;
  seededMs: number;
}

export async function startEmbeddedSandbox(options: {
  patients: number;
  seed: number;
  dataDir: string;
  now?: Date;
}): Promise<EmbeddedSandbox> {
  const { server, credentials, seeded } = await startSeededSandbox({
    patients: options.patients,
    seed: options.seed,
    anchor: todayAnchor(options.now),
    auth: 'client_credentials',
    credentialsDir: path.join(options.dataDir, 'sandbox'),
  });
  const source: SourceConfig = {
    id: SANDBOX_SOURCE_ID,
    name: 'Built-in sandbox EMR',
    baseUrl: server.baseUrl,
    auth: credentials.client(server.tokenUrl),
    resourceTypes: ['Patient', 'Appointment', 'CarePlan', 'QuestionnaireResponse'],
    pageSize: 200,
    mode: 'system',
    schedule: '*/15 * * * *',
    rateLimit: { requestsPerSecond: 200, concurrency: 4 },
    timeoutMs: 30_000,
    maxRetries: 5,
    overlapSeconds: 300,
    writeBatchSize: 50,
    writeBack: true,
    // The built-in sandbox is there to be written to: no first-run hold (docs/programme.md).
    approval: { firstRun: 'write' },
    // The first load goes through $export (as a large clinic's would), later runs search.
    pull: { ...DEFAULT_PULL, method: 'auto' },
  };
  return { server, repo: server.repo, source, seededMs: seeded.durationMs };
}
