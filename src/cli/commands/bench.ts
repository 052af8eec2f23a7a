/**
 * `fhir-engage bench` (`npm run bench`): throughput as a new user would see
 * it, against the sandbox EMR in a process of its own, each sync a
 * `fhir-engage sync --json` process of its own (so that start-up and peak
 * memory are measured as they are in use). Every figure is a ratio against a
 * baseline measured in the same run: the raw limit, fetch + JSON.parse of the
 * same pages with the same page size. Results: a table on stdout, JSON in
 * bench/results/. docs/performance.md explains each figure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import type { Command } from 'commander';
import { EngageError, ExitCode, outcome } from '../../errors';
import type { CliIo } from '../io';
import { parseWholeNumber } from './sandbox';

const ROOT = path.join(__dirname, '..', '..', '..');

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

interface SyncResult {
  scenario: string;
  store: string;
  patients: number;
  seconds: number;
  resources: number;
  resourcesPerSecond: number;
  ratioToRaw: number;
  writes: number;
  requests: number;
  requestsPerWrite: number | null;
  maxRssMb: number;
  heapUsedMb: number;
  stageShare: Record<string, number>;
  status: string;
}

interface BenchReport {
  startedAt: string;
  machine: { cpus: number; memoryGb: number; node: string };
  raw: { patients: number; resources: number; seconds: number; resourcesPerSecond: number }[];
  runs: SyncResult[];
}

async function startSandboxProcess(patients: number): Promise<{ url: string; child: ChildProcess }> {
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

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** The raw limit: every page of every type fetched and parsed, nothing else. */
async function rawLimit(url: string): Promise<{ resources: number; seconds: number }> {
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

function runSync(
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

function writeConfig(dir: string, url: string, writeBack: boolean): void {
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: bench\n    baseUrl: ${url}\n    pageSize: ${PAGE_SIZE}\n    writeBack: ${writeBack}\n    rateLimit: { requestsPerSecond: 5000, concurrency: 4 }\n`,
  );
}

/** Changes about 1 % of the Appointments on the server (a comment), so that an incremental sync has something to do. */
async function touchOnePercent(url: string, patients: number): Promise<number> {
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

function toResult(
  scenario: string,
  store: string,
  patients: number,
  raw: number,
  r: { seconds: number; json: Record<string, unknown> },
): SyncResult {
  const j = r.json as {
    status: string;
    resources: Record<string, number>;
    writes: Record<string, Record<string, number>>;
    requests: number;
    memory: { maxRssMb: number; heapUsedMb: number };
    stages: Record<string, number>;
  };
  const resources = Object.values(j.resources ?? {}).reduce((a, b) => a + b, 0);
  const writes = Object.values(j.writes ?? {}).reduce(
    (n, w) => n + (w.created ?? 0) + (w.updated ?? 0) + (w.cancelled ?? 0) + (w.completed ?? 0),
    0,
  );
  const stageTotal = Object.values(j.stages ?? {}).reduce((a, b) => a + b, 0) || 1;
  return {
    scenario,
    store,
    patients,
    seconds: Math.round(r.seconds * 100) / 100,
    resources,
    resourcesPerSecond: Math.round(resources / r.seconds),
    ratioToRaw: Math.round((resources / r.seconds / raw) * 1000) / 1000,
    writes,
    requests: j.requests,
    requestsPerWrite: writes ? Math.round((j.requests / writes) * 1000) / 1000 : null,
    maxRssMb: j.memory?.maxRssMb ?? 0,
    heapUsedMb: j.memory?.heapUsedMb ?? 0,
    stageShare: Object.fromEntries(
      Object.entries(j.stages ?? {}).map(([k, v]) => [k.replace(/Ms$/, ''), Math.round((v / stageTotal) * 100) / 100]),
    ),
    status: j.status,
  };
}

function parseSizes(list: string): number[] {
  return list
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

export function formatBenchTable(report: BenchReport): string[] {
  const lines = [
    '| scenario | store | patients | s | resources/s | × raw | writes | requests/write | peak RSS MB | stage shares |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of report.raw)
    lines.push(
      `| raw limit (fetch + parse) | — | ${r.patients} | ${r.seconds.toFixed(2)} | ${r.resourcesPerSecond} | 1 | — | — | — | — |`,
    );
  for (const r of report.runs) {
    const shares = Object.entries(r.stageShare)
      .filter(([, v]) => v >= 0.01)
      .map(([k, v]) => `${k} ${Math.round(v * 100)}%`)
      .join(', ');
    lines.push(
      `| ${r.scenario} | ${r.store} | ${r.patients} | ${r.seconds.toFixed(2)} | ${r.resourcesPerSecond} | ${r.ratioToRaw} | ${r.writes} | ${r.requestsPerWrite ?? '—'} | ${r.maxRssMb} | ${shares} |`,
    );
  }
  return lines;
}

/** Drops the bench's PostgreSQL schemas and removes its scratch folders; a failure is said, never thrown. */
async function removeScratch(
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

export function registerBenchCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('bench')
    .description(
      'throughput against the raw limit: full, 1 %-changed and no-change syncs, with and without write-back, on PGlite (and PostgreSQL when DATABASE_URL or TEST_DATABASE_URL is set); table on stdout, JSON in bench/results/',
    )
    .option('--sizes <list>', 'patient counts, comma-separated', '1000,10000')
    .option('--large', 'also 50,000 patients')
    .option('--write-back-size <n>', 'patients of the write-back measurement', parseWholeNumber, 1000)
    .option(
      '--bulk-sizes <list>',
      'patient counts at which the first load is also measured through Bulk Data $export (default: the smallest size; "all" for every size)',
    )
    .option('--results <dir>', 'folder the JSON results are written to', path.join(ROOT, 'bench', 'results'))
    .action(
      async (opts: { sizes: string; large?: boolean; writeBackSize: number; bulkSizes?: string; results: string }) => {
        const sizes = [...parseSizes(opts.sizes), ...(opts.large ? [50_000] : [])];
        // The bulk first load costs as much as the search first load: measured at the smallest size by
        // default, so that the default run stays within ten minutes on 2 cores.
        const bulkSizes =
          opts.bulkSizes === 'all'
            ? sizes
            : opts.bulkSizes
              ? parseSizes(opts.bulkSizes)
              : sizes
                  .slice()
                  .sort((a, b) => a - b)
                  .slice(0, 1);
        const pgUrl = process.env.DATABASE_URL || process.env.TEST_DATABASE_URL;
        // Everything the bench makes is removed when it ends, however it ends: its PostgreSQL schemas and
        // its scratch folders (each PGlite store is a few hundred MB).
        const scratch = { schemas: new Set<string>(), dirs: new Set<string>() };
        const scratchDir = (prefix: string): string => {
          const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
          scratch.dirs.add(dir);
          return dir;
        };
        const schemaFor = (tag: string): string => {
          const schema = `bench_${tag}_${process.pid}`;
          scratch.schemas.add(schema);
          return schema;
        };
        const stores: { name: string; env: (tag: string, dir: string) => Record<string, string> }[] = [
          { name: 'pglite', env: (_tag, dir) => ({ FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') }) },
          ...(pgUrl
            ? [{ name: 'postgres', env: (tag: string) => ({ DATABASE_URL: pgUrl, DATABASE_SCHEMA: schemaFor(tag) }) }]
            : []),
        ];
        const say = (line: string): void => io.err(line);
        try {
          const report: BenchReport = {
            startedAt: new Date().toISOString(),
            machine: { cpus: os.cpus().length, memoryGb: Math.round(os.totalmem() / 1e9), node: process.version },
            raw: [],
            runs: [],
          };
          say(
            'building dist/ when the sources changed since the last build (the measured processes run the compiled build)…',
          );
          await buildDist();
          for (const patients of sizes) {
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
              for (const store of stores) {
                const dir = scratchDir('fe-bench-');
                writeConfig(dir, url, false);
                const env = store.env(`${patients}`, dir);
                const full = toResult(
                  'full sync, no write-back',
                  store.name,
                  patients,
                  rawRate,
                  await runSync(dir, env, []),
                );
                report.runs.push(full);
                say(`   ${store.name}: full ${full.seconds} s (${full.ratioToRaw}× raw)`);
                const touched = await touchOnePercent(url, patients);
                const changed = toResult(
                  `sync, ${touched} Appointments changed`,
                  store.name,
                  patients,
                  rawRate,
                  await runSync(dir, env, []),
                );
                report.runs.push(changed);
                const none = toResult(
                  'sync, nothing changed',
                  store.name,
                  patients,
                  rawRate,
                  await runSync(dir, env, []),
                );
                report.runs.push(none);
                say(
                  `   ${store.name}: changed ${changed.seconds} s, nothing changed ${none.seconds} s (${Math.round((none.seconds / full.seconds) * 1000) / 10} % of full)`,
                );
                if (!bulkSizes.includes(patients)) continue;
                // The same first load through Bulk Data $export, into a fresh store.
                const bulkDir = scratchDir('fe-bench-bulk-');
                writeConfig(bulkDir, url, false);
                const bulk = toResult(
                  'full sync by Bulk Data $export, no write-back',
                  store.name,
                  patients,
                  rawRate,
                  await runSync(bulkDir, store.env(`${patients}bulk`, bulkDir), ['--bulk']),
                );
                report.runs.push(bulk);
                say(
                  `   ${store.name}: bulk first load ${bulk.seconds} s (${bulk.ratioToRaw}× raw, peak RSS ${bulk.maxRssMb} MB)`,
                );
              }
            } finally {
              await stopProcess(child);
            }
          }
          for (const store of stores) {
            // Write-back changes the EMR: each store gets a fresh sandbox.
            const { url, child } = await startSandboxProcess(opts.writeBackSize);
            try {
              let raw = report.raw.find((r) => r.patients === opts.writeBackSize)?.resourcesPerSecond;
              if (raw === undefined) {
                const measured = await rawLimit(url);
                raw = Math.round(measured.resources / measured.seconds);
              }
              const dir = scratchDir('fe-bench-wb-');
              writeConfig(dir, url, true);
              const env = store.env(`wb${opts.writeBackSize}`, dir);
              const first = toResult(
                'full sync with write-back',
                store.name,
                opts.writeBackSize,
                raw,
                await runSync(dir, env, []),
              );
              const second = toResult(
                'second run (must write 0)',
                store.name,
                opts.writeBackSize,
                raw,
                await runSync(dir, env, []),
              );
              report.runs.push(first, second);
              say(
                `   ${store.name}: write-back ${first.writes} writes in ${first.seconds} s, ${first.requestsPerWrite} requests/write; second run ${second.writes} writes`,
              );
            } finally {
              await stopProcess(child);
            }
          }
          const table = formatBenchTable(report);
          for (const line of table) io.out(line);
          const dir = path.resolve(opts.results);
          mkdirSync(dir, { recursive: true });
          const file = path.join(dir, `${report.startedAt.replace(/[:.]/g, '-')}.json`);
          writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
          say(`results: ${path.relative(process.cwd(), file)}`);
          const secondRuns = report.runs.filter((r) => r.scenario.startsWith('second run'));
          setExit(
            secondRuns.every((r) => r.writes === 0) && report.runs.every((r) => r.status === 'succeeded')
              ? ExitCode.ok
              : ExitCode.failure,
          );
        } finally {
          await removeScratch(scratch, pgUrl, say);
        }
      },
    );
}
