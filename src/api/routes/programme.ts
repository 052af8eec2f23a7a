/** Programme figures: the summary now, every figure over a period, and the report as a file. */
import { formatReport, REPORT_FORMATS } from '../../indicators/programme-report-format';
import { loadProgrammeReport, loadProgrammeSummary } from '../../sync/programme';
import { errors, json, q, secured, type RouteModule } from '../openapi-parts';
import { BadQuery, period, query } from '../params';
import { figuresSource } from '../identity';
import { reportZone } from '../../config/programme-settings';
import { reply } from '../reply';
import {
  ProgrammePeriodResponse,
  ProgrammeReportFile,
  ProgrammeResponse,
  ProgrammeSummary,
} from '../schemas/programme';

export const programmeRoutes: RouteModule = {
  paths: {
    '/api/programme': {
      get: {
        summary:
          'Programme-level aggregates; with from/to, every programme figure over the period (as the report command) and its recorded history',
        security: secured,
        parameters: [
          q('source', 'source id'),
          q('from', "start of the period: a date (the start of that day in the clinic's time zone) or an instant"),
          q('to', "end of the period, exclusive: a date (in the clinic's time zone) or an instant"),
        ],
        responses: {
          '200': json('the summary, or { summary, report, history } with a period', ProgrammeResponse),
          ...errors,
        },
      },
    },
    '/api/programme/report': {
      get: {
        summary: 'The programme report as a file (the report command’s output)',
        security: secured,
        parameters: [
          q('format', 'md (default), csv or json'),
          q('source', 'source id'),
          q('from', 'ISO date'),
          q('to', 'ISO date, exclusive'),
        ],
        responses: {
          '200': {
            description: 'the report',
            content: { 'text/markdown': {}, 'text/csv': {}, 'application/json': { schema: ProgrammeReportFile } },
          },
          ...errors,
        },
      },
    },
  },
  register(api, { store, config }) {
    api.get('/programme', async (req, res) => {
      const sourceId = figuresSource(req, res);
      const summary = await loadProgrammeSummary(store, sourceId);
      // With a period: every programme figure over it (the `report` command's data), and the recorded history in it.
      if (query(req, 'from') === undefined && query(req, 'to') === undefined)
        return reply(res, ProgrammeSummary, summary);
      const { start, end } = period(req, reportZone(config.sources, sourceId));
      const report = await loadProgrammeReport(store, config, { from: start, to: end, sourceId });
      const history = await store.listProgrammeHistory(start, end, sourceId);
      reply(res, ProgrammePeriodResponse, { summary, report, history: history as ProgrammePeriodResponse['history'] });
    });

    api.get('/programme/report', async (req, res) => {
      const format = query(req, 'format') ?? 'md';
      if (!REPORT_FORMATS.includes(format)) throw new BadQuery(`format must be one of ${REPORT_FORMATS.join(', ')}`);
      const sourceId = figuresSource(req, res);
      const { start, end } = period(req, reportZone(config.sources, sourceId));
      const report = await loadProgrammeReport(store, config, { from: start, to: end, sourceId });
      const type = format === 'json' ? 'application/json' : format === 'csv' ? 'text/csv' : 'text/markdown';
      const day = (d: Date): string => d.toISOString().slice(0, 10);
      res.set('Content-Disposition', `attachment; filename="programme-report-${day(start)}-${day(end)}.${format}"`);
      res.type(type).send(formatReport(report, format, sourceId ? 'one source' : 'all sources'));
    });
  },
};
