/**
 * Fault storm: the sandbox EMR with every misbehaviour at once (5xx of four kinds, 429 with
 * Retry-After, slow answers, capped pages, opaque next links some of which expire, truncated
 * bodies, invalid resources); the run must complete and account for every resource served:
 * stored + dead-lettered = served, per type. Store outage: PostgreSQL connections of the run
 * terminated during pull, compute and write-back; each run fails cleanly or recovers, and the next
 * run completes with nothing lost and nothing written twice.
 */
import os from 'node:os';
import pg from 'pg';
import { loadConfig } from '../../src/config/load';
import type { SyncSummary } from '../../src/sync/run';
import { syncSource } from '../../src/sync/run';
import { openStore } from '../../src/store/open';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';
import { dropSchema } from '../helpers/drivers';
import { reconcile, type Reconciliation } from './emr-checks';

export interface StormResult {
  seed: number;
  faults: Record<string, number>;
  status: string;
  stormWrites: number;
  reconciliation: Reconciliation;
  /** Writes of a run after everything settled: 0. */
  secondRunWrites: number;
}

function writesOf(s: SyncSummary): number {
  return Object.values(s.writes).reduce((n, w) => n + w.created + w.updated + w.cancelled + w.completed, 0);
}

export async function faultStorm(seed: number): Promise<StormResult> {
  const emr = await seededSandbox(
    { patients: 60, seed, fixtures: false, invalidResources: 6 },
    {
      quirks: {
        errorRate: 0.15,
        errorStatuses: [500, 502, 503, 504],
        rateLimitEvery: 13,
        retryAfterSeconds: 1,
        delayMs: 3,
        maxPageSize: 15,
        opaqueNextLinks: true,
        expireNextLinksAt: [5, 21, 40],
        malformedJsonEvery: 17,
        seed,
      },
    },
  );
  const store = await memoryStore();
  try {
    const config = { ...loadConfig({ env: {}, cwd: os.tmpdir() }), sources: [] };
    const source = testSource({ id: 'storm', baseUrl: emr.baseUrl, pageSize: 50, maxRetries: 8, rateLimit: { requestsPerSecond: 1000, concurrency: 3 } });
    const first = await syncSource(store, config, source, { asOf: new Date(TEST_ANCHOR) });
    const c = emr.counters();
    const faults = { serverErrors: c.serverErrors, rateLimited: c.rateLimited, truncatedBodies: c.malformedBodies, expiredLinks: c.expiredLinks, cappedPages: c.cappedPages, opaqueLinks: c.opaqueLinks, invalidResources: emr.repo.all('Appointment').filter((r) => (r.meta?.tag ?? []).some((t) => t.code === 'sandbox-invalid')).length, slowAnswers: c.delayed };
    emr.setQuirks({});
    // Writes the storm held back (retry later) go out on the next, calm run; the one after writes nothing.
    await syncSource(store, config, source, { asOf: new Date(TEST_ANCHOR) });
    const third = await syncSource(store, config, source, { asOf: new Date(TEST_ANCHOR) });
    return { seed, faults, status: first.status, stormWrites: writesOf(first), reconciliation: await reconcile(emr, store, 'storm'), secondRunWrites: writesOf(third) };
  } finally {
    await store.close();
    await emr.close();
  }
}

export interface OutageResult {
  stage: string;
  terminated: number;
  status: string;
  error?: string;
  nextStatus: string;
  reconciliation: Reconciliation;
  finalRunWrites: number;
}

/** Terminates every connection of this suite's store (as a PostgreSQL restart or a failover does). */
async function terminateBackends(url: string, applicationName: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query('SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [applicationName]);
    return Number(r.rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

export async function storeOutage(pgUrl: string, stage: 'pull' | 'compute' | 'dispatch'): Promise<OutageResult> {
  const emr = await seededSandbox({ patients: 20, seed: 5, fixtures: false }, { quirks: { delayMs: 5 } });
  const schema = `rel_outage_${stage}_${process.pid}`;
  // The suite runs alone: every fhir-engage connection to the server is this store's.
  const applicationName = 'fhir-engage';
  const store = await openStore({ databaseUrl: pgUrl, schema, dataDir: '' });
  try {
    const config = { ...loadConfig({ env: {}, cwd: os.tmpdir() }), sources: [] };
    const source = testSource({ id: 'outage', baseUrl: emr.baseUrl, pageSize: 10 });
    let terminated = 0;
    let fired = false;
    const fire = async (): Promise<void> => {
      if (fired) return;
      fired = true;
      terminated = await terminateBackends(pgUrl, applicationName);
    };
    const first = await syncSource(store, config, source, {
      asOf: new Date(TEST_ANCHOR),
      onEvent: (e) => {
        if (e.type === 'page' && stage === 'pull' && e.report.pages === 2) void fire();
        if (e.type === 'computed' && stage === 'compute') void fire();
      },
      ...(stage === 'dispatch' ? { afterSend: () => fire() } : {}),
    }).catch((err: unknown) => ({ status: 'threw', error: (err as Error).message }) as unknown as SyncSummary);
    // The same store object: the pool replaces the terminated connections.
    const next = await syncSource(store, config, source, { asOf: new Date(TEST_ANCHOR) });
    const again = await syncSource(store, config, source, { asOf: new Date(TEST_ANCHOR) });
    return { stage, terminated, status: first.status, ...(first.error ? { error: typeof first.error === 'string' ? first.error : JSON.stringify(first.error).slice(0, 200) } : {}), nextStatus: next.status, reconciliation: await reconcile(emr, store, 'outage'), finalRunWrites: writesOf(again) };
  } finally {
    await store.close();
    await emr.close();
    await dropSchema(pgUrl, schema);
  }
}
