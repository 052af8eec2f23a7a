/**
 * `fhir-engage bench` (`npm run bench`): throughput as a new user would see
 * it, against the sandbox EMR in a process of its own, each sync a
 * `fhir-engage sync --json` process of its own (so that start-up and peak
 * memory are measured as they are in use). Every figure is a ratio against a
 * baseline measured in the same run: the raw limit, fetch + JSON.parse of the
 * same pages with the same page size. Results: a table on stdout, JSON in
 * bench/results/. docs/performance.md explains each figure. The measurements
 * are in src/cli/bench-steps.ts.
 */
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { ExitCode } from '../../errors';
import {
  buildDist,
  measureSize,
  measureWriteBack,
  removeScratch,
  ROOT,
  saveReport,
  Scratch,
  type BenchRun,
  type BenchStore,
} from '../bench-steps';
import { formatBenchTable, parseSizes } from '../bench-report';
import type { CliIo } from '../io';
import { parseWholeNumber } from './sandbox';

interface BenchOptions {
  sizes: string;
  large?: boolean;
  writeBackSize: number;
  bulkSizes?: string;
  results: string;
}

/** The bulk first load costs as much as the search first load: measured at the smallest size by default, so that the default run stays within ten minutes on 2 cores. */
function bulkSizesOf(opts: BenchOptions, sizes: number[]): number[] {
  if (opts.bulkSizes === 'all') return sizes;
  if (opts.bulkSizes) return parseSizes(opts.bulkSizes);
  return sizes
    .slice()
    .sort((a, b) => a - b)
    .slice(0, 1);
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
    .action(async (opts: BenchOptions) => {
      const sizes = [...parseSizes(opts.sizes), ...(opts.large ? [50_000] : [])];
      const bulkSizes = bulkSizesOf(opts, sizes);
      const pgUrl = process.env.DATABASE_URL || process.env.TEST_DATABASE_URL;
      const scratch = new Scratch();
      const stores: BenchStore[] = [
        { name: 'pglite', env: (_tag, dir) => ({ FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') }) },
        ...(pgUrl
          ? [
              {
                name: 'postgres',
                env: (tag: string) => ({ DATABASE_URL: pgUrl, DATABASE_SCHEMA: scratch.schema(tag) }),
              },
            ]
          : []),
      ];
      const say = (line: string): void => io.err(line);
      const run: BenchRun = {
        report: {
          startedAt: new Date().toISOString(),
          machine: { cpus: os.cpus().length, memoryGb: Math.round(os.totalmem() / 1e9), node: process.version },
          raw: [],
          runs: [],
        },
        stores,
        scratch,
        say,
      };
      try {
        say(
          'building dist/ when the sources changed since the last build (the measured processes run the compiled build)…',
        );
        await buildDist();
        for (const patients of sizes) await measureSize(run, patients, bulkSizes.includes(patients));
        for (const store of stores) await measureWriteBack(run, store, opts.writeBackSize);
        for (const line of formatBenchTable(run.report)) io.out(line);
        const file = saveReport(run.report, path.resolve(opts.results));
        say(`results: ${path.relative(process.cwd(), file)}`);
        const secondRuns = run.report.runs.filter((r) => r.scenario.startsWith('second run'));
        const ok = secondRuns.every((r) => r.writes === 0) && run.report.runs.every((r) => r.status === 'succeeded');
        setExit(ok ? ExitCode.ok : ExitCode.failure);
      } finally {
        await removeScratch(scratch, pgUrl, say);
      }
    });
}
