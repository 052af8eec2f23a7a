/**
 * Kill -9 loop: syncs of a CLI process killed at moments spread over the stages of a run — pull,
 * compute, outbox committed (dispatch starting), a write on its way to the EMR (it never arrives),
 * a write the EMR applied whose answer never reached fhir-engage — on a seeded schedule, each run a
 * day later than the one before so that there is always something to pull and to write. Then a clean
 * run, and one more that must write nothing. Counted: kills per stage, resources lost, duplicate
 * identifiers in the EMR, written resources without Provenance, writes of the last run.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Random } from '../../src/sandbox/random';
import { openStore } from '../../src/store/open';
import { seededSandbox } from '../helpers/sandbox';
import { dropSchema } from '../helpers/drivers';
import { reconcile, type Reconciliation } from './emr-checks';
import { spawnCli, startKillProxy, type ProxyDecision } from './proc';

export const STAGES = ['pull', 'compute', 'outbox', 'send', 'ack'] as const;
type Stage = (typeof STAGES)[number];

export interface KillLoopResult {
  store: string;
  seed: number;
  runs: number;
  killed: Record<Stage, number>;
  /** Runs whose chosen moment never came (the run finished first). */
  completed: number;
  reconciliation: Reconciliation;
  finalRunWrites: number;
  finalExit: number | null;
}

const DAY = 86_400_000;
const ANCHOR = Date.parse('2026-06-01T00:00:00.000Z');

function isWrite(method: string, url: string): boolean {
  return method !== 'GET' && !url.includes('_search') && !url.includes('/oauth2/');
}

export async function killLoop(options: {
  store: 'pglite' | 'postgres';
  runs: number;
  seed: number;
  pgUrl?: string;
  stages?: readonly Stage[];
  /** Called after each run: its number (from 1), the stage aimed at, and whether the kill came. */
  onRun?: (run: number, stage: Stage, killed: boolean) => void;
}): Promise<KillLoopResult> {
  const stages = options.stages ?? STAGES;
  const rng = new Random(options.seed);
  const emr = await seededSandbox(
    { patients: 12, seed: options.seed % 1000, fixtures: false, invalidResources: 2 },
    { quirks: { delayMs: 8 } },
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), `fe-kill-${options.store}-`));
  const schema = `rel_kill_${process.pid}`;
  const env: Record<string, string> =
    options.store === 'postgres'
      ? { DATABASE_URL: options.pgUrl!, DATABASE_SCHEMA: schema }
      : { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') };
  let current: (() => void) | undefined;
  let decide: (req: { method: string; url: string }) => ProxyDecision = () => 'forward';
  const proxy = await startKillProxy(
    emr.baseUrl,
    (req) => decide(req),
    () => current?.(),
  );
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: killed\n    baseUrl: ${proxy.url}\n    approval: { firstRun: write }\n    pageSize: 10\n    rateLimit: { requestsPerSecond: 500, concurrency: 2 }\n`,
  );
  const killed: Record<Stage, number> = { pull: 0, compute: 0, outbox: 0, send: 0, ack: 0 };
  let completed = 0;
  try {
    for (let i = 0; i < options.runs; i++) {
      const stage = stages[i % stages.length] as Stage;
      const asOf = new Date(ANCHOR + i * DAY).toISOString();
      const run = spawnCli(['sync', '--as-of', asOf], env, dir);
      let fired = false;
      const kill = (): void => {
        if (fired) return;
        fired = true;
        run.child.kill('SIGKILL');
      };
      current = kill;
      const nth = rng.int(1, 4);
      let writes = 0;
      decide = (req) => {
        if (fired || !isWrite(req.method, req.url) || (stage !== 'send' && stage !== 'ack')) return 'forward';
        writes++;
        if (writes < nth) return 'forward';
        return stage === 'send' ? 'kill-before' : 'kill-after';
      };
      const delay = rng.int(0, 400);
      run.onLine((line) => {
        if (stage === 'pull' && /^\s+\w+: (full|incremental|resumed)/.test(line)) setTimeout(kill, delay);
        if (stage === 'compute' && line.includes('computing indicators')) setTimeout(kill, delay);
        if (stage === 'outbox' && line.includes('sending writes to the EMR')) kill();
      });
      const res = await run.done;
      if (res.signal === 'SIGKILL') killed[stage]++;
      else completed++;
      options.onRun?.(i + 1, stage, res.signal === 'SIGKILL');
    }
    current = undefined;
    decide = () => 'forward';
    const lastDay = new Date(ANCHOR + options.runs * DAY).toISOString();
    const final = await spawnCli(['sync', '--as-of', lastDay], env, dir).done;
    const again = await spawnCli(['sync', '--json', '--as-of', lastDay], env, dir).done;
    const summary = JSON.parse(again.stdout.trim().split('\n').pop() ?? '{}') as {
      writes?: Record<string, Record<string, number>>;
    };
    const finalRunWrites = Object.values(summary.writes ?? {}).reduce(
      (n, w) => n + (w.created ?? 0) + (w.updated ?? 0) + (w.cancelled ?? 0) + (w.completed ?? 0),
      0,
    );
    const store = await openStore({
      dataDir: path.join(dir, 'data'),
      schema: options.store === 'postgres' ? schema : 'public',
      ...(options.store === 'postgres' ? { databaseUrl: options.pgUrl! } : {}),
    });
    try {
      return {
        store: options.store,
        seed: options.seed,
        runs: options.runs,
        killed,
        completed,
        reconciliation: await reconcile(emr, store, 'killed'),
        finalRunWrites,
        finalExit: final.code === 0 && again.code === 0 ? 0 : (final.code ?? again.code),
      };
    } finally {
      await store.close();
    }
  } finally {
    await proxy.close();
    await emr.close();
    if (options.store === 'postgres') await dropSchema(options.pgUrl!, schema);
  }
}
