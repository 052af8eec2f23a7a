/**
 * The measurements of `fhir-engage bench` (src/cli/commands/bench.ts): the sandbox EMR and each sync
 * in a process of their own, the raw limit they are compared with, the scenarios of one size and of
 * write-back, and the scratch stores removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { EngageError, outcome } from '../errors';
import { toResult, type BenchReport } from './bench-report';

export const ROOT = path.join(__dirname, '..', '..');

/** The environment of the processes the benchmark starts: this one's, less fhir-engage's own settings (each scenario sets its store). */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(DATABASE_|FHIR_ENGAGE_|LOG_LEVEL$)/.test(k)),
  );
  return { ...inherited, LOG_LEVEL: 'silent', ...extra };
}
/**
 * The measured processes run the compiled build, as an installed package does (bin/fhir-engage.js
 * prefers the sources through tsx in a checkout: ~0.5 s more start-up per process). Built first.
 */
const BUILT_MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');

/** True when dist/ was built after the last change to any source file (and to the migrations). */
function distIsFresh(): boolean {
  if (!existsSync(BUILT_MAIN)) return false;
  const built = statSync(BUILT_MAIN).mtimeMs;
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce(
      (m, e) =>
        Math.max(m, e.isDirectory() ? newest(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).mtimeMs),
      0,
    );
  return newest(path.join(ROOT, 'src')) < built;
}

export function buildDist(): Promise<void> {
  // Not part of any figure; skipped when nothing changed since the last build (~20 s on 2 cores).
  if (distIsFresh()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')],
      { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`the build (tsc -p tsconfig.build.json) failed with exit code ${code}`));
      cpSync(path.join(ROOT, 'src', 'store', 'migrations'), path.join(ROOT, 'dist', 'store', 'migrations'), {
        recursive: true,
      });
      resolve();
    });
  });
}
const PAGE_SIZE = 100;
const TYPES = ['Patient', 'Appointment', 'CarePlan', 'QuestionnaireResponse'];
/** A fixed anchor: the same data in every run, whatever the day. */
const ANCHOR = '2026-06-01T00:00:00.000Z';

export async function startSandboxProcess(patients: number): Promise<{ url: string; child: ChildProcess }> {
  // The sandbox holds the whole EMR in memory (~1.3 million resources at 50,000 patients): past
  // Node's default heap (~4 GB) from about 30,000 patients.
  const heapMb = Math.max(4096, Math.ceil((patients * 0.24) / 1024) * 1024);
  const child = spawn(
    process.execPath,
    [
      `--max-old-space-size=${heapMb}`,
      BUILT_MAIN,
      'sandbox',
      '--port',
      '0',
      '--patients',
      String(patients),
      '--seed',
      '1',
      '--anchor',
      ANCHOR,
      '--no-fixtures',
    ],
    { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the sandbox did not start within 10 minutes')), 600_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening: (\S+)/.exec(out);
      if (m && out.includes('press Ctrl-C')) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new EngageError(
          'internal',
          outcome(
            'exception',
            `the sandbox EMR (${patients} patients, heap ${heapMb} MB) ended before it listened: ${signal ? `killed by ${signal}` : `exit code ${code}`} (its messages are above)`,
          ),
        ),
      );
    });
  });
  return { url, child };
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** The raw limit: every page of every type fetched and parsed, nothing else. */
export async function rawLimit(url: string): Promise<{ resources: number; seconds: number }> {
  const started = performance.now();
  let resources = 0;
  for (const type of TYPES) {
    let next: string | undefined = `${url}/${type}?_count=${PAGE_SIZE}`;
    while (next) {
      const bundle = JSON.parse(await (await fetch(next)).text()) as Bundle;
      resources += bundle.entry?.length ?? 0;
      next = bundle.link?.find((l) => l.relation === 'next')?.url;
    }
  }
  return { resources, seconds: (performance.now() - started) / 1000 };
}

export function runSync(
  dir: string,
  env: Record<string, string>,
  args: string[],
): Promise<{ seconds: number; json: Record<string, unknown> }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BUILT_MAIN, 'sync', '--json', '--as-of', ANCHOR, ...args], {
      cwd: dir,
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', () => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve({ seconds: (performance.now() - started) / 1000, json: JSON.parse(last) as Record<string, unknown> });
      } catch {
        reject(new Error(`sync printed no JSON summary: ${err.split('\n').slice(-3).join(' ')}`));
      }
    });
  });
}

/**
 * The bench's source. The first run writes its whole plan at once (no approval hold, no phased start,
 * no per-run cap on new Tasks): the worst case a write-back must sustain, and a second run that must
 * write nothing.
 */
export function writeConfig(dir: string, url: string, writeBack: boolean): void {
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    [
      'sources:',
      '  - id: bench',
      `    baseUrl: ${url}`,
      `    pageSize: ${PAGE_SIZE}`,
      `    writeBack: ${writeBack}`,
      '    approval: { firstRun: write }',
      '    phasedStart: { days: 0 }',
      '    maxNewTasksPerRun: 1000000',
      '    rateLimit: { requestsPerSecond: 5000, concurrency: 4 }',
      '',
    ].join('\n'),
  );
}

/** Changes about 1 % of the Appointments on the server (a comment), so that an incremental sync has something to do. */
export async function touchOnePercent(url: string, patients: number): Promise<number> {
  const bundle = JSON.parse(
    await (await fetch(`${url}/Appointment?_count=${Math.max(1, Math.round(patients * 0.25))}`)).text(),
  ) as Bundle;
  let n = 0;
  for (const e of bundle.entry ?? []) {
    const r = e.resource as { id: string; comment?: string };
    await fetch(`${url}/Appointment/${r.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ ...r, comment: `bench ${Date.now()}` }),
    });
    n++;
  }
  return n;
}

/** Drops the bench's PostgreSQL schemas and removes its scratch folders; a failure is said, never thrown. */
export async function removeScratch(
  scratch: { schemas: Set<string>; dirs: Set<string> },
  pgUrl: string | undefined,
  say: (line: string) => void,
): Promise<void> {
  for (const dir of scratch.dirs) rmSync(dir, { recursive: true, force: true });
  if (!pgUrl || scratch.schemas.size === 0) return;
  const client = new pg.Client({ connectionString: pgUrl });
  client.on('error', () => undefined);
  try {
    await client.connect();
    for (const schema of scratch.schemas)
      await client.query(`DROP SCHEMA IF EXISTS "${schema.replace(/"/g, '""')}" CASCADE`);
  } catch (err) {
    say(`could not drop the bench's schemas (${[...scratch.schemas].join(', ')}): ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Everything the bench makes, removed when it ends however it ends: PostgreSQL schemas and scratch folders (each PGlite store is a few hundred MB). */
export class Scratch {
  readonly schemas = new Set<string>();
  readonly dirs = new Set<string>();

  dir(prefix: string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    this.dirs.add(dir);
    return dir;
  }

  schema(tag: string): string {
    const schema = `bench_${tag}_${process.pid}`;
    this.schemas.add(schema);
    return schema;
  }
}

/** A store the scenarios run on, and the environment that points a sync at a fresh one. */
export interface BenchStore {
  name: string;
  env: (tag: string, dir: string) => Record<string, string>;
}

export interface BenchRun {
  report: BenchReport;
  stores: BenchStore[];
  scratch: Scratch;
  say: (line: string) => void;
}

/** One size: the raw limit, then on each store a full sync, a 1 %-changed sync, a no-change sync and (when asked) a Bulk Data first load. */
export async function measureSize(run: BenchRun, patients: number, withBulk: boolean): Promise<void> {
  const { report, say } = run;
  say(`== ${patients} patients: starting the sandbox EMR in its own process…`);
  const { url, child } = await startSandboxProcess(patients);
  try {
    const raw = await rawLimit(url);
    const rawRate = Math.round(raw.resources / raw.seconds);
    report.raw.push({
      patients,
      resources: raw.resources,
      seconds: Math.round(raw.seconds * 100) / 100,
      resourcesPerSecond: rawRate,
    });
    say(`   raw limit: ${raw.resources} resources in ${raw.seconds.toFixed(2)} s (${rawRate}/s)`);
    for (const store of run.stores) await measureStore(run, store, url, patients, rawRate, withBulk);
  } finally {
    await stopProcess(child);
  }
}

async function measureStore(
  run: BenchRun,
  store: BenchStore,
  url: string,
  patients: number,
  rawRate: number,
  withBulk: boolean,
): Promise<void> {
  const { report, say } = run;
  const dir = run.scratch.dir('fe-bench-');
  writeConfig(dir, url, false);
  const env = store.env(`${patients}`, dir);
  const result = async (scenario: string, d: string, e: Record<string, string>, args: string[]) =>
    toResult(scenario, store.name, patients, rawRate, await runSync(d, e, args));
  const full = await result('full sync, no write-back', dir, env, []);
  report.runs.push(full);
  say(`   ${store.name}: full ${full.seconds} s (${full.ratioToRaw}× raw)`);
  const touched = await touchOnePercent(url, patients);
  const changed = await result(`sync, ${touched} Appointments changed`, dir, env, []);
  report.runs.push(changed);
  const none = await result('sync, nothing changed', dir, env, []);
  report.runs.push(none);
  say(
    `   ${store.name}: changed ${changed.seconds} s, nothing changed ${none.seconds} s (${Math.round((none.seconds / full.seconds) * 1000) / 10} % of full)`,
  );
  if (!withBulk) return;
  // The same first load through Bulk Data $export, into a fresh store.
  const bulkDir = run.scratch.dir('fe-bench-bulk-');
  writeConfig(bulkDir, url, false);
  const bulkEnv = store.env(`${patients}bulk`, bulkDir);
  const bulk = await result('full sync by Bulk Data $export, no write-back', bulkDir, bulkEnv, ['--bulk']);
  report.runs.push(bulk);
  say(`   ${store.name}: bulk first load ${bulk.seconds} s (${bulk.ratioToRaw}× raw, peak RSS ${bulk.maxRssMb} MB)`);
}

/** Write-back on one store, against a fresh sandbox (write-back changes the EMR): the first run writes, the second must write 0. */
export async function measureWriteBack(run: BenchRun, store: BenchStore, patients: number): Promise<void> {
  const { report, say } = run;
  const { url, child } = await startSandboxProcess(patients);
  try {
    let raw = report.raw.find((r) => r.patients === patients)?.resourcesPerSecond;
    if (raw === undefined) {
      const measured = await rawLimit(url);
      raw = Math.round(measured.resources / measured.seconds);
    }
    const dir = run.scratch.dir('fe-bench-wb-');
    writeConfig(dir, url, true);
    const env = store.env(`wb${patients}`, dir);
    const first = toResult('full sync with write-back', store.name, patients, raw, await runSync(dir, env, []));
    const second = toResult('second run (must write 0)', store.name, patients, raw, await runSync(dir, env, []));
    report.runs.push(first, second);
    say(
      `   ${store.name}: write-back ${first.writes} writes in ${first.seconds} s, ${first.requestsPerWrite} requests/write; second run ${second.writes} writes`,
    );
  } finally {
    await stopProcess(child);
  }
}

/** Writes the report's JSON into `dir`; returns the file. */
export function saveReport(report: BenchReport, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${report.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
