import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { configError, ExitCode } from '../../errors';
import { CSV_HEADER, formatReport, REPORT_FORMATS } from '../../indicators/programme-report-format';
import { openStoreOrService } from '../service-reader';
import { loadProgrammeReport } from '../../sync/programme';
import type { CliIo } from '../io';
import { reportZone } from '../../config/programme-settings';
import { dayOrInstant } from '../../local-time';

interface ReportOptions {
  from?: string;
  to?: string;
  source?: string;
  format: string;
  out?: string;
}

const FORMATS = REPORT_FORMATS;

/** A date is the start of that day in the clinic's zone; an instant is itself. */
function instant(flag: string, value: string | undefined, fallback: Date, zone: string): Date {
  if (value === undefined) return fallback;
  const t = dayOrInstant(value, zone);
  if (Number.isNaN(t)) throw configError(`${flag} must be an ISO date or instant`, [flag]);
  return new Date(t);
}

export function registerReportCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('report')
    .description(
      'the programme report: reminder effect, outreach outcome, care-team efficiency, tier movement, clinical outcome, survey response and satisfaction, with definitions and counts',
    )
    .option(
      '--from <date>',
      "start of the period: a date is the start of that day in the clinic's time zone (default: 30 days before --to)",
    )
    .option('--to <date>', 'end of the period, exclusive, read as --from is (default: now)')
    .option('--source <id>', 'one source (default: every source, then each source in turn)')
    .option('--format <format>', `md | json | csv`, 'md')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (opts: ReportOptions) => {
      if (!FORMATS.includes(opts.format))
        throw configError(`--format must be one of ${FORMATS.join(', ')}`, ['--format']);
      const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      const zone = reportZone(config.sources, opts.source);
      const to = instant('--to', opts.to, config.asOf ?? new Date(), zone);
      const from = instant('--from', opts.from, new Date(to.getTime() - 30 * 86_400_000), zone);
      if (from >= to) throw configError('--from must be before --to', ['--from']);
      const emit = (text: string): void => {
        if (opts.out) {
          writeFileSync(opts.out, text);
          io.err(`report written to ${opts.out}`);
        } else {
          io.out(text.trimEnd());
        }
        setExit(ExitCode.ok);
      };
      const opened = await openStoreOrService(config, (line) => io.err(line));
      // The running service holds the embedded store: the same report, from its API (all sources, or the one asked).
      if ('reader' in opened)
        return emit(await opened.reader.report({ format: opts.format, from, to, sourceId: opts.source }));
      const { store } = opened;
      try {
        const sources = opts.source ? [opts.source] : [...new Set((await store.listSources()).map((s) => s.id))];
        const parts: string[] = [
          formatReport(
            await loadProgrammeReport(store, config, { from, to, sourceId: opts.source }),
            opts.format,
            opts.source ? `source ${opts.source}` : 'all sources',
          ),
        ];
        if (!opts.source)
          for (const id of sources)
            parts.push(
              formatReport(
                await loadProgrammeReport(store, config, { from, to, sourceId: id }),
                opts.format,
                `source ${id}`,
              ),
            );
        const text =
          opts.format === 'json'
            ? `[${parts.map((p) => p.trim()).join(',\n')}]\n`
            : opts.format === 'csv'
              ? `${CSV_HEADER}\n${parts.join('')}`
              : parts.join('\n');
        emit(text);
      } finally {
        await store.close();
      }
    });
}
