/**
 * Fault storm: the sandbox EMR with every misbehaviour at once (5xx of four kinds, 429 with
 * Retry-After, slow answers, capped pages, opaque next links some of which expire, truncated
 * bodies, invalid resources); the run must complete and account for every resource served:
 * stored + dead-lettered = served, per type. Store outage: PostgreSQL connections of the run
 * terminated during pull, compute and write-back; each run fails cleanly or recovers, and the next
 * run completes with nothing lost and nothing written twice.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../../src/config/load';
import type { SyncSummary } from '../../src/sync/events';
import { syncSource } from '../../src/sync/run';
import { openStore } from '../../src/store/open';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';
import { dropSchema } from '../helpers/drivers';
import { reconcile, type Reconciliation } from './emr-checks';
import { spawnCli } from './proc';

export interface StormResult {
  seed: number;
  faults: Record<string, number>;
  status: string;
  /** Positive control: the open dead letters are exactly the injected invalid resources (ids of each, sorted). */
  deadLetters: { injected: string[]; found: string[] };
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
    const source = testSource({
      id: 'storm',
      baseUrl: emr.baseUrl,
      pageSize: 50,
      maxRetries: 8,
      rateLimit: { requestsPerSecond: 1000, concurrency: 3 },
    });
    const first = await syncSource(store, config, source, { asOf: new Date(TEST_ANCHOR) });
    const c = emr.counters();
    const faults = {
      serverErrors: c.serverErrors,
      rateLimited: c.rateLimited,
      truncatedBodies: c.malformedBodies,
      expiredLinks: c.expiredLinks,
      cappedPages: c.cappedPages,
      opaqueLinks: c.opaqueLinks,
      invalidResources: emr.repo
        .all('Appointment')
        .filter((r) => (r.meta?.tag ?? []).some((t) => t.code === 'sandbox-invalid')).length,
      slowAnswers: c.delayed,
    };
    emr.setQuirks({});
    // Writes the storm held back (retry later) go out on the next, calm run; the one after writes nothing.
    await syncSource(store, config, source, { asOf: new Date(TEST_ANCHOR) });
    const third = await syncSource(store, config, source, { asOf: new Date(TEST_ANCHOR) });
    const injected = emr.repo
      .all('Appointment')
      .filter((r) => (r.meta?.tag ?? []).some((t) => t.code === 'sandbox-invalid'))
      .map((r) => `Appointment/${r.id}`)
      .sort();
    const found = (await store.listDeadLetters({ sourceId: 'storm', limit: 100_000 }))
      .map((d) => `${d.resourceType}/${d.resourceId ?? '(none)'}`)
      .sort();
    return {
      seed,
      faults,
      status: first.status,
      deadLetters: { injected, found },
      stormWrites: writesOf(first),
      reconciliation: await reconcile(emr, store, 'storm'),
      secondRunWrites: writesOf(third),
    };
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
    const r = await client.query(
      'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
      [applicationName],
    );
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
        if (e.type === 'stage' && e.stage === 'compute' && stage === 'compute') void fire();
      },
      ...(stage === 'dispatch' ? { afterSend: () => fire() } : {}),
    }).catch((err: unknown) => ({ status: 'threw', error: (err as Error).message }) as unknown as SyncSummary);
    // The same store object: the pool replaces the terminated connections.
    const next = await syncSource(store, config, source, { asOf: new Date(TEST_ANCHOR) });
    const again = await syncSource(store, config, source, { asOf: new Date(TEST_ANCHOR) });
    return {
      stage,
      terminated,
      status: first.status,
      ...(first.error
        ? { error: typeof first.error === 'string' ? first.error : JSON.stringify(first.error).slice(0, 200) }
        : {}),
      nextStatus: next.status,
      reconciliation: await reconcile(emr, store, 'outage'),
      finalRunWrites: writesOf(again),
    };
  } finally {
    await store.close();
    await emr.close();
    await dropSchema(pgUrl, schema);
  }
}

export interface RestartResult {
  /** Why the restart was not tried, when it was not (not root, no local cluster). */
  skipped?: string;
  restartSeconds: number;
  serveAlive: boolean;
  /** /api/health answers seen during the outage, by status. */
  health: Record<string, number>;
  /** /api/ready answers seen during the outage, by status. */
  ready: Record<string, number>;
  interruptedRun: string;
  nextRun: string;
  reconciliation?: Reconciliation;
}

/** The local PostgreSQL cluster restarted (pg_ctlcluster) while `fhir-engage serve` runs a sync. */
export async function serveThroughRestart(pgUrl: string): Promise<RestartResult> {
  const versions = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql') : [];
  const empty = { restartSeconds: 0, serveAlive: true, health: {}, ready: {}, interruptedRun: '-', nextRun: '-' };
  if (process.getuid?.() !== 0 || versions.length === 0 || !/127\.0\.0\.1|localhost/.test(pgUrl))
    return { ...empty, skipped: 'needs root and the local PostgreSQL cluster (pg_ctlcluster)' };
  const emr = await seededSandbox({ patients: 60, seed: 8, fixtures: false }, { quirks: { delayMs: 25 } });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-restart-'));
  const schema = `rel_restart_${process.pid}`;
  const port = await freePort();
  const key = 'restart-key';
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: restart\n    baseUrl: ${emr.baseUrl}\n    approval: { firstRun: write }\n    pageSize: 10\n`,
  );
  const serve = spawnCli(
    ['serve'],
    {
      DATABASE_URL: pgUrl,
      DATABASE_SCHEMA: schema,
      FHIR_ENGAGE_API_KEY: key,
      FHIR_ENGAGE_PORT: String(port),
      LOG_LEVEL: process.env.RELIABILITY_DEBUG ? 'info' : 'warn',
    },
    dir,
  );
  const api = `http://127.0.0.1:${port}/api`;
  const get = async (p: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    try {
      const res = await fetch(`${api}${p}`, { headers: { 'X-API-Key': key } });
      return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
    } catch {
      return { status: 0, body: {} };
    }
  };
  const untilFinished = async (runId: string): Promise<string> => {
    for (let i = 0; i < 600; i++) {
      const r = await get(`/runs/${runId}`);
      if (r.status === 200 && r.body.status !== 'running') return String(r.body.status);
      await sleep(200);
    }
    return 'still running after 120 s';
  };
  const trigger = async (): Promise<string> => {
    const res = await fetch(`${api}/sources/restart/sync`, { method: 'POST', headers: { 'X-API-Key': key } });
    return String(((await res.json()) as { runId?: string }).runId);
  };
  const health: Record<string, number> = {};
  const ready: Record<string, number> = {};
  try {
    for (let i = 0; i < 150 && (await get('/health')).status !== 200; i++) await sleep(200);
    const first = await trigger();
    await sleep(1500);
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const h = await get('/health');
        const r = await get('/ready');
        health[h.status] = (health[h.status] ?? 0) + 1;
        ready[r.status] = (ready[r.status] ?? 0) + 1;
        await sleep(100);
      }
    })();
    const t0 = Date.now();
    // Asynchronously, so that the API keeps being asked while the server is down.
    await new Promise<void>((resolve) =>
      execFile('pg_ctlcluster', ['--skip-systemctl-redirect', versions[0] as string, 'main', 'restart'], () =>
        resolve(),
      ),
    );
    for (let i = 0; i < 100; i++) {
      const up = await new Promise<boolean>((resolve) =>
        execFile('pg_isready', ['-h', '127.0.0.1', '-q'], (err) => resolve(!err)),
      );
      if (up) break;
      await sleep(200);
    }
    const restartSeconds = Math.round((Date.now() - t0) / 100) / 10;
    const interruptedRun = await untilFinished(first);
    await sleep(500);
    polling = false;
    await poller;
    if (process.env.RELIABILITY_DEBUG)
      process.stderr.write(
        `first run ${first}: ${JSON.stringify((await get(`/runs/${first}`)).body).slice(0, 1500)}\n`,
      );
    const nextRun = await untilFinished(await trigger());
    const serveAlive = serve.child.exitCode === null;
    const store = await openStore({ databaseUrl: pgUrl, schema, dataDir: '' });
    try {
      return {
        restartSeconds,
        serveAlive,
        health,
        ready,
        interruptedRun,
        nextRun,
        reconciliation: await reconcile(emr, store, 'restart'),
      };
    } finally {
      await store.close();
    }
  } finally {
    serve.child.kill('SIGTERM');
    const ended = await serve.done;
    if (process.env.RELIABILITY_DEBUG) process.stderr.write(ended.stderr.slice(-6000));
    await emr.close();
    await dropSchema(pgUrl, schema);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
