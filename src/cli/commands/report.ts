import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { configError, ExitCode } from '../../errors';
import type { ProgrammeReport, Rate } from '../../indicators/programme-report';
import { openStore } from '../../store/open';
import { loadProgrammeReport } from '../../sync/programme';
import type { CliIo } from '../io';

interface ReportOptions {
  from?: string;
  to?: string;
  source?: string;
  format: string;
  out?: string;
}

const FORMATS = ['md', 'json', 'csv'];
const pct = (r: number | null): string => (r === null ? 'n/a' : `${Math.round(r * 1000) / 10} %`);

/** Rows of (figure, breakdown, value, numerator, denominator): the one table the md and csv forms share. */
export function reportRows(r: ProgrammeReport): { figure: string; part: string; value: string; numerator?: number; denominator?: number }[] {
  const rows: ReturnType<typeof reportRows> = [];
  const rate = (figure: string, part: string, x: Rate): void => void rows.push({ figure, part, value: pct(x.rate), numerator: x.numerator, denominator: x.denominator });
  rate('reminder effect', 'attendance with a reminder', r.reminderEffect.value.withReminder);
  rate('reminder effect', 'attendance without a reminder', r.reminderEffect.value.withoutReminder);
  rows.push({ figure: 'reminder effect', part: 'difference', value: pct(r.reminderEffect.value.difference) });
  rate('outreach outcome', 'kept an appointment within 30 days', r.outreachOutcome.value);
  for (const [kind, t] of Object.entries(r.careTeam.value.turnaroundDays)) rows.push({ figure: 'care-team turnaround', part: `${kind} (median / p90 days, n=${t.completed})`, value: `${t.median ?? 'n/a'} / ${t.p90 ?? 'n/a'}` });
  rate('care-team efficiency', 'closed by a person (vs cancelled by fhir-engage)', r.careTeam.value.closedByPerson);
  for (const [owner, n] of Object.entries(r.careTeam.value.openByOwner)) rows.push({ figure: 'care-team workload', part: `open Tasks, ${owner}`, value: String(n) });
  for (const [t, n] of Object.entries(r.tierMovement.value.transitions)) rows.push({ figure: 'tier movement', part: t, value: String(n) });
  rows.push({ figure: 'tier movement', part: 'improved / worsened / unchanged', value: `${r.tierMovement.value.improved} / ${r.tierMovement.value.worsened} / ${r.tierMovement.value.unchanged}` });
  rate('clinical outcome', 'PHQ-9 response among elevated baselines', r.clinicalOutcome.value.response);
  rate('clinical outcome', 'PHQ-9 remission among elevated baselines', r.clinicalOutcome.value.remission);
  for (const [instrument, x] of Object.entries(r.surveyResponse.value)) rate('survey response rate', instrument, x);
  const s = r.satisfaction.value;
  rows.push({ figure: 'satisfaction', part: `mean likelihood to recommend (n=${s.responses})`, value: String(s.meanRecommend ?? 'n/a') });
  rows.push({ figure: 'satisfaction', part: 'NPS', value: String(s.nps ?? 'n/a') });
  rows.push({ figure: 'satisfaction', part: 'mean experience (1-5)', value: String(s.meanExperience ?? 'n/a') });
  rate('satisfaction', 'response rate', s.responseRate);
  return rows;
}

const CSV_HEADER = ['scope', 'from', 'to', 'figure', 'part', 'value', 'numerator', 'denominator'].join(',');
const csvCell = (v: unknown): string => (v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));

export function formatReport(r: ProgrammeReport, format: string, scope: string): string {
  if (format === 'json') return `${JSON.stringify({ scope, ...r }, null, 2)}\n`;
  const rows = reportRows(r);
  if (format === 'csv') return `${rows.map((x) => [scope, r.period.from.slice(0, 10), r.period.to.slice(0, 10), x.figure, x.part, x.value, x.numerator, x.denominator].map(csvCell).join(',')).join('\n')}\n`;
  const lines = [`# Programme report: ${scope}`, '', `Period: ${r.period.from.slice(0, 10)} to ${r.period.to.slice(0, 10)} (end exclusive); ${r.patients} patients.`, '', '| figure | part | value | counts |', '|---|---|---|---|'];
  for (const x of rows) lines.push(`| ${x.figure} | ${x.part} | ${x.value} | ${x.denominator !== undefined ? `${x.numerator} / ${x.denominator}` : ''} |`);
  lines.push('', '## Definitions', '');
  for (const [name, f] of Object.entries(r)) if (f && typeof f === 'object' && 'definition' in f) lines.push(`- **${name}**: ${(f as { definition: string }).definition}`);
  return `${lines.join('\n')}\n`;
}

function instant(flag: string, value: string | undefined, fallback: Date): Date {
  if (value === undefined) return fallback;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw configError(`${flag} must be an ISO date or instant`, [flag]);
  return new Date(t);
}

export function registerReportCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('report')
    .description('the programme report: reminder effect, outreach outcome, care-team efficiency, tier movement, clinical outcome, survey response and satisfaction, with definitions and counts')
    .option('--from <date>', 'start of the period (default: 30 days before --to)')
    .option('--to <date>', 'end of the period, exclusive (default: now)')
    .option('--source <id>', 'one source (default: every source, then each source in turn)')
    .option('--format <format>', `md | json | csv`, 'md')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (opts: ReportOptions) => {
      if (!FORMATS.includes(opts.format)) throw configError(`--format must be one of ${FORMATS.join(', ')}`, ['--format']);
      const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      const to = instant('--to', opts.to, config.asOf ?? new Date());
      const from = instant('--from', opts.from, new Date(to.getTime() - 30 * 86_400_000));
      if (from >= to) throw configError('--from must be before --to', ['--from']);
      const store = await openStore(config.store, { migrate: false });
      try {
        const sources = opts.source ? [opts.source] : [...new Set((await store.listSources()).map((s) => s.id))];
        const parts: string[] = [formatReport(await loadProgrammeReport(store, config, { from, to, sourceId: opts.source }), opts.format, opts.source ? `source ${opts.source}` : 'all sources')];
        if (!opts.source) for (const id of sources) parts.push(formatReport(await loadProgrammeReport(store, config, { from, to, sourceId: id }), opts.format, `source ${id}`));
        const text =
          opts.format === 'json' ? `[${parts.map((p) => p.trim()).join(',\n')}]\n`
            : opts.format === 'csv' ? `${CSV_HEADER}\n${parts.join('')}`
              : parts.join('\n');
        if (opts.out) {
          writeFileSync(opts.out, text);
          io.err(`report written to ${opts.out}`);
        } else {
          io.out(text.trimEnd());
        }
        setExit(ExitCode.ok);
      } finally {
        await store.close();
      }
    });
}
