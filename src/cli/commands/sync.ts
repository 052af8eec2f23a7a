import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import type { AppConfig, SourceConfig } from '../../config/types';
import { configError, ExitCode } from '../../errors';
import { openStore } from '../../store/open';
import type { Store } from '../../store/store';
import { formatSummary } from '../format';
import { syncSource } from '../../sync/run';
import type { SyncSummary } from '../../sync/events';
import type { CliIo } from '../io';
import { progressPrinter } from '../progress';

export interface SyncCliOptions {
  source?: string[];
  all?: boolean;
  full?: boolean;
  bulk?: boolean;
  dryRun?: boolean;
  json?: boolean;
  asOf?: string;
  out?: string;
  /** Exit 1 while any dead letter of the synced sources is open, not only when a run adds one. */
  failOnOpen?: boolean;
}

/** --as-of, else FHIR_ENGAGE_AS_OF (read into the configuration), else now. */
export function resolveAsOf(flag: string | undefined, config: Pick<AppConfig, 'asOf'>): Date {
  if (flag === undefined) return config.asOf ?? new Date();
  const t = Date.parse(flag);
  if (Number.isNaN(t))
    throw configError(`--as-of / FHIR_ENGAGE_AS_OF must be an ISO date or instant, got "${flag}"`, ['--as-of']);
  return new Date(t);
}

export function selectSources(config: AppConfig, ids: string[] | undefined): SourceConfig[] {
  if (config.sources.length === 0)
    throw configError(
      'no sources are configured: create fhir-engage.config.yaml (see README) or run `npm start` to sync the sandbox EMR',
    );
  if (!ids?.length) return config.sources;
  return ids.map((id) => {
    const s = config.sources.find((x) => x.id === id);
    if (!s)
      throw configError(`no source "${id}" (configured: ${config.sources.map((x) => x.id).join(', ')})`, ['--source']);
    return s;
  });
}

/**
 * SIGINT/SIGTERM while syncing: the run stops after the page or batch in
 * progress is committed and is recorded as interrupted (the next run resumes
 * it); a second signal exits at once, as a kill would.
 */
export function stopOnSignals(io: CliIo): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      io.err(`${name} again: exiting now; the run is marked interrupted by the next one`);
      process.exit(ExitCode.failure);
    }
    io.err(`${name}: stopping after the work in progress is committed (again to exit at once)…`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Runs the syncs, prints progress and summaries; returns the exit code. */
export async function runSyncs(
  store: Store,
  config: AppConfig,
  sources: SourceConfig[],
  opts: SyncCliOptions,
  io: CliIo,
  signal?: AbortSignal,
): Promise<{ code: number; summaries: SyncSummary[] }> {
  const asOf = resolveAsOf(opts.asOf, config);
  const summaries: SyncSummary[] = [];
  for (const source of sources) {
    if (signal?.aborted) break;
    const summary = await syncSource(store, config, source, {
      asOf,
      full: opts.full,
      bulk: opts.bulk,
      dryRun: opts.dryRun,
      signal,
      onEvent: progressPrinter(io, io.isTTY),
    });
    summaries.push(summary);
    if (!opts.json) for (const line of formatSummary(summary)) io.out(line);
    if (summary.dryRunBundle) {
      const text = JSON.stringify(summary.dryRunBundle, null, 2);
      if (opts.out) {
        writeFileSync(opts.out, `${text}\n`);
        io.err(`dry run: ${summary.dryRunBundle.entry?.length ?? 0} entries written to ${opts.out}`);
      } else if (!opts.json) {
        io.out(text);
      }
    }
  }
  const openLetters = summaries.reduce((n, s) => n + s.deadLetters.open, 0);
  if (opts.failOnOpen && openLetters > 0)
    io.err(`--fail-on-open: ${openLetters} dead letter(s) open (list them with \`fhir-engage dead-letters\`)`);
  const allRan = summaries.length === sources.length;
  const code =
    allRan && summaries.every((s) => s.status === 'succeeded') && !(opts.failOnOpen && openLetters > 0)
      ? ExitCode.ok
      : ExitCode.failure;
  return { code, summaries };
}

export function jsonSummary(summaries: SyncSummary[]): string {
  const total = (pick: (s: SyncSummary) => Record<string, number>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const s of summaries) for (const [k, v] of Object.entries(pick(s))) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const writes: Record<string, Record<string, number>> = {};
  for (const s of summaries) {
    for (const [type, w] of Object.entries(s.writes)) {
      const t = (writes[type] ??= {});
      for (const [k, v] of Object.entries(w)) t[k] = (t[k] ?? 0) + v;
    }
  }
  return JSON.stringify({
    status: summaries.every((s) => s.status === 'succeeded')
      ? 'succeeded'
      : summaries.some((s) => s.status === 'failed')
        ? 'failed'
        : 'partially-failed',
    runs: summaries.map((s) => ({
      runId: s.runId,
      sourceId: s.sourceId,
      status: s.status,
      asOf: s.asOf,
      durationMs: s.durationMs,
      dryRun: s.dryRun,
      ...(s.error ? { error: s.error } : {}),
    })),
    resources: total((s) => Object.fromEntries(s.pull.map((t) => [t.resourceType, t.received]))),
    patients: summaries.reduce((n, s) => n + s.patients.total, 0),
    writes,
    planned: summaries.reduce((n, s) => n + s.planned, 0),
    deadLetters: summaries.reduce((n, s) => n + s.deadLetters.open, 0),
    deadLettersAdded: summaries.reduce((n, s) => n + s.deadLetters.thisRun, 0),
    heldBackPatients: summaries.reduce((n, s) => n + s.heldBack.patients, 0),
    stages: total((s) => ({ ...s.stages })),
    requests: summaries.reduce((n, s) => n + s.requests.requests, 0),
    // What this process needed at its peak: operators size machines by it, the benchmark reports it.
    memory: {
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576),
    },
    tiers: total((s) => s.tiers),
    ...(summaries.some((s) => s.dryRunBundle)
      ? { dryRunBundles: summaries.map((s) => s.dryRunBundle).filter(Boolean) }
      : {}),
  });
}

export function registerSyncCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('sync')
    .description('run one sync of the configured sources and exit (0 only if every run fully succeeded)')
    .option('--source <id...>', 'sync only these sources')
    .option('--all', 'sync every configured source (the default)')
    .option(
      '--full',
      'ignore watermarks and checkpoints: pull everything again (unchanged resources are still skipped)',
    )
    .option(
      '--bulk',
      'pull through FHIR Bulk Data $export this run, whatever pull.method says (with --full or on a first load: everything; otherwise _since the watermarks)',
    )
    .option('--dry-run', 'compute everything and print the transaction Bundle that would be sent, without sending')
    .option('--out <file>', 'with --dry-run: write the Bundle to this file')
    .option('--json', 'print the summary as one JSON object on the last line of stdout')
    .option('--fail-on-open', 'exit 1 while any dead letter is open (default: only when this run adds one)')
    .option(
      '--as-of <instant>',
      'the instant indicators and rules are computed at (also FHIR_ENGAGE_AS_OF; default now)',
    )
    .action(async (opts: SyncCliOptions) => {
      const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      const sources = selectSources(config, opts.all ? undefined : opts.source);
      resolveAsOf(opts.asOf, config);
      const store = await openStore(config.store);
      const stop = stopOnSignals(io);
      try {
        const { code, summaries } = await runSyncs(store, config, sources, opts, io, stop.signal);
        if (opts.json) io.out(jsonSummary(summaries));
        setExit(code);
      } finally {
        stop.dispose();
        await store.close();
      }
    });
}
