/**
 * The worklist: GET with filters in the query, POST /search with a name, MRN or birth date in the body
 * (never in a URL: URLs end up in logs and browser history). Names and phones are patient data: every
 * patient on the page returned is in the access log.
 */
import type { Request, Response } from 'express';
import { body, errors, json, q, secured, type RouteModule, type RouteContext } from '../openapi-parts';
import { BadQuery, query } from '../params';
import { scopeFor } from '../identity';
import { reply } from '../reply';
import { Worklist } from '../schemas/worklist';
import { WORK_KINDS, worklist, worklistCsv, type WorklistFilters } from '../worklist';

const MAX_PAGE_SIZE = 500;

function filtersOf(get: (name: string) => unknown): WorklistFilters & { source?: string; format: string } {
  const text = (name: string): string | undefined => {
    const v = get(name);
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' || v.length > 200)
      throw new BadQuery(`${name} must be a string of at most 200 characters`);
    return v;
  };
  const whole = (name: string, fallback: number, max: number): number => {
    const v = get(name);
    if (v === undefined || v === null || v === '') return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new BadQuery(`${name} must be a whole number from 1 to ${max}`);
    return n;
  };
  const kind = text('kind');
  if (kind && !(WORK_KINDS as readonly string[]).includes(kind))
    throw new BadQuery(`kind must be one of ${WORK_KINDS.join(', ')}`);
  const format = text('format') ?? 'json';
  if (format !== 'json' && format !== 'csv') throw new BadQuery('format must be json or csv');
  return {
    kind,
    programme: text('programme'),
    owner: text('owner'),
    tier: text('tier'),
    search: text('search'),
    source: text('source'),
    page: whole('page', 1, 100_000),
    pageSize: whole('pageSize', 50, MAX_PAGE_SIZE),
    format,
  };
}

async function answer(
  req: Request,
  res: Response,
  { store, config, audit }: RouteContext,
  filters: ReturnType<typeof filtersOf>,
): Promise<void> {
  const tasks = await store.worklistTasks(scopeFor(res, filters.source));
  const page = worklist(tasks, filters, config.actions.surveys.windowDays, new Date());
  const accessed = page.rows.map((r) => ({ sourceId: r.sourceId, patientId: r.patientId }));
  if (filters.format === 'csv')
    return audit.send(req, res, accessed, () => {
      res.set('Content-Disposition', 'attachment; filename="worklist.csv"');
      res.type('text/csv').send(worklistCsv(page.rows));
    });
  await audit.send(req, res, accessed, () =>
    reply(res, Worklist, { ...page, page: filters.page, pageSize: filters.pageSize }),
  );
}

const FILTERS = [
  q('kind', `one section: ${WORK_KINDS.join(', ')}`),
  q('programme', 'programme id'),
  q('owner', 'Task owner reference, or "unassigned"'),
  q('tier', 'engagement tier'),
  q('source', 'source id'),
  q('page', 'page number (from 1)'),
  q('pageSize', `rows per page (default 50, at most ${MAX_PAGE_SIZE})`),
  q('format', 'json (default) or csv (this page)'),
];

export const worklistRoutes: RouteModule = {
  paths: {
    '/api/worklist': {
      get: {
        summary:
          'The care team’s open Tasks by urgency (safety first), with name, age, phone, why, since, due and owner; every patient on the page is in the access log',
        security: secured,
        parameters: FILTERS,
        responses: {
          '200': {
            ...json('a page of the worklist', Worklist),
            content: { ...json('', Worklist).content, 'text/csv': {} },
          },
          ...errors,
        },
      },
    },
    '/api/worklist/search': {
      post: {
        summary:
          'The worklist searched by name, MRN or birth date (sent in the body, never in a URL), with the same filters',
        security: secured,
        requestBody: body('the search and the filters', {
          type: 'object',
          properties: {
            search: { type: 'string', maxLength: 200 },
            kind: { type: 'string' },
            programme: { type: 'string' },
            owner: { type: 'string' },
            tier: { type: 'string' },
            source: { type: 'string' },
            page: { type: 'integer', minimum: 1 },
            pageSize: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE },
            format: { type: 'string', enum: ['json', 'csv'] },
          },
        }),
        responses: { '200': json('a page of the worklist', Worklist), ...errors },
      },
    },
  },
  register(api, ctx) {
    api.get('/worklist', ctx.audit.audited, async (req, res) => {
      if (query(req, 'search') !== undefined)
        throw new BadQuery('search goes in the body of POST /api/worklist/search, never in a URL');
      await answer(
        req,
        res,
        ctx,
        filtersOf((name) => query(req, name)),
      );
    });
    api.post('/worklist/search', ctx.audit.audited, async (req, res) => {
      const given = (req.body ?? {}) as Record<string, unknown>;
      await answer(
        req,
        res,
        ctx,
        filtersOf((name) => given[name]),
      );
    });
  },
};
