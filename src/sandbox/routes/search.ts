/**
 * Searches, answered here (not by FhirRouter) so that pages come from the repository's indexes and
 * carry self/next links, which MemoryRepository's search results lack; with the quirks of real
 * servers: searches refused without a patient, restricted patients, opaque next links that expire,
 * pages larger than asked, links that loop or leave the origin.
 */
import { randomBytes } from 'node:crypto';
import { badRequest, forbidden, parseSearchRequest } from '@medplum/core';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { Request, Response } from 'express';
import { badRequestAs, queryParams, sendFhir, withText, type SandboxContext } from './context';
import { hostileCopy, sendPage } from './hostile-bodies';
import type { Quirks } from '../quirks';

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;
/** Search parameters that scope a search to one patient (for `requirePatientFor`). */
const PATIENT_SCOPE_PARAMS = ['patient', 'subject', 'actor', '_id'];

/** Types searched per patient only when the EMR answers no population search (Epic). */
const PATIENT_COMPARTMENT = new Set(['Appointment', 'CarePlan', 'QuestionnaireResponse', 'Task', 'Observation']);

/**
 * Why a search is refused as too broad (`requirePatientFor`, or `refusePopulationSearches` as Epic does:
 * a Patient search needs _id, an identifier or a name with a birth date; the others a patient).
 */
function populationRefusal(quirks: Quirks, type: string, params: URLSearchParams): string | undefined {
  const has = (...names: string[]): boolean => names.some((p) => params.has(p));
  if (quirks.refusePopulationSearches && type === 'Patient') {
    if (has('_id', 'identifier') || (has('family', 'given', 'name') && has('birthdate'))) return undefined;
    return 'A search for Patient requires one of: _id, identifier, or a name with birthdate';
  }
  const perPatient =
    (quirks.requirePatientFor ?? []).includes(type) ||
    (quirks.refusePopulationSearches === true && PATIENT_COMPARTMENT.has(type));
  // An identifier names records, not a population (fhir-engage reads its own Tasks back by identifier).
  const scoped = has(...PATIENT_SCOPE_PARAMS) || (quirks.refusePopulationSearches === true && has('identifier'));
  return perPatient && !scoped ? `A search for ${type} requires one of: patient, subject, _id` : undefined;
}

type SearchPage = { resources: (Resource & { id: string })[]; next?: string };

function toQueryRecord(params: URLSearchParams, skip: (k: string) => boolean): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of params) {
    if (skip(k)) continue;
    (out[k] ??= []).push(v);
  }
  return out;
}

/** The search's parameters and where its page starts; undefined when refused (the answer is sent). */
function resolveParams(
  req: Request,
  res: Response,
  ctx: SandboxContext,
  type: string,
): { params: URLSearchParams; cursor?: string } | undefined {
  const { quirks } = ctx;
  let params = queryParams(req);
  let cursor: string | undefined;
  const pageContext = params.get('-pageContext');
  if (pageContext !== null) {
    const state = quirks.takeExpired() ? undefined : ctx.opaquePages.get(pageContext);
    if (!state || state.type !== type) return void sendFhir(res, 400, badRequest('Unknown or expired page context'));
    params = new URLSearchParams(state.query);
    cursor = state.cursor;
  } else if (params.has('_cursor')) {
    cursor = Buffer.from(params.get('_cursor') as string, 'base64url').toString('utf8');
  }
  const refusal = populationRefusal(quirks.quirks, type, params);
  if (refusal) {
    quirks.counters.refusedSystemSearch++;
    return void sendFhir(res, 400, badRequestAs('required', refusal));
  }
  const restricted = quirks.quirks.restrictedPatients ?? [];
  const named = ['patient', 'subject'].flatMap((p) => params.getAll(p)).map((v) => v.replace(/^Patient\//, ''));
  if (named.some((id) => restricted.includes(id))) {
    quirks.counters.refusedRestricted++;
    return void sendFhir(res, 403, withText(forbidden, 'Access to this patient record is restricted'));
  }
  return { params, cursor };
}

/** The next link of a page: a cursor in the URL, or an opaque page context that may expire. */
function nextLinks(
  ctx: SandboxContext,
  type: string,
  params: URLSearchParams,
  page: SearchPage,
  sizes: { requested: number; count: number },
  selfUrl: string,
): NonNullable<Bundle['link']> {
  const { quirks } = ctx;
  const links: NonNullable<Bundle['link']> = [{ relation: 'self', url: selfUrl }];
  if (page.next !== undefined) {
    if (quirks.quirks.opaqueNextLinks) {
      const token = randomBytes(18).toString('base64url');
      const kept = new URLSearchParams(params);
      kept.delete('_cursor');
      ctx.opaquePages.set(token, { type, query: kept.toString(), cursor: page.next, count: sizes.count });
      quirks.counters.opaqueLinks++;
      const visible = new URLSearchParams([...kept].filter(([k]) => k === 'patient' || k === 'subject'));
      visible.set('-pageContext', token);
      visible.set('-pageDirection', 'NEXT');
      links.push({ relation: 'next', url: `${ctx.base()}/${type}?${visible}` });
    } else {
      const next = new URLSearchParams(params);
      next.set('_count', String(sizes.requested));
      next.set('_cursor', Buffer.from(page.next, 'utf8').toString('base64url'));
      links.push({ relation: 'next', url: `${ctx.base()}/${type}?${next}` });
    }
  }
  if (quirks.quirks.selfLoopingNextLink) links.splice(1, links.length, { relation: 'next', url: selfUrl });
  const foreign = quirks.quirks.foreignNextLinkOrigin;
  if (foreign) for (const l of links) if (l.relation === 'next') l.url = l.url?.replace(ctx.origin, foreign);
  return links;
}

/** One page of matches from the indexes, or (sorted by what they do not keep) Medplum's search with offsets. */
async function findPage(
  ctx: SandboxContext,
  searchRequest: ReturnType<typeof parseSearchRequest>,
  count: number,
  cursor: string | undefined,
): Promise<SearchPage> {
  const indexed = ctx.repo.searchPage(searchRequest, count, cursor);
  if (indexed) return indexed;
  const offset = Number(cursor ?? 0);
  const all = await ctx.repo.search({ ...searchRequest, offset, count: count + 1 });
  const resources = (all.entry ?? []).map((e) => e.resource as Resource & { id: string });
  return {
    resources: resources.slice(0, count),
    ...(resources.length > count ? { next: String(offset + count) } : {}),
  };
}

export async function search(req: Request, res: Response, ctx: SandboxContext, type: string): Promise<void> {
  const { quirks, repo } = ctx;
  const resolved = resolveParams(req, res, ctx, type);
  if (!resolved) return;
  const { params, cursor } = resolved;
  const requested = Math.min(Number(params.get('_count') ?? DEFAULT_PAGE_SIZE) || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const count = quirks.quirks.pageOverflow ? requested * quirks.quirks.pageOverflow : quirks.pageSize(requested);
  const query = toQueryRecord(
    params,
    (k) => k === '_cursor' || k === '_count' || k === '_summary' || k === '_total' || k.startsWith('-page'),
  );
  const searchRequest = parseSearchRequest(type as Resource['resourceType'], query);
  const summaryCount = params.get('_summary') === 'count';
  const wantsTotal = summaryCount || params.get('_total') === 'accurate' || params.get('_total') === 'estimate';
  const total = wantsTotal
    ? (repo.countMatches(searchRequest) ?? (await repo.search({ ...searchRequest, count: 0, total: 'accurate' })).total)
    : undefined;
  const selfUrl = `${ctx.base()}/${type}${params.size ? `?${params}` : ''}`;
  if (summaryCount) {
    // FHIR search: `_summary=count` answers the number of matches and no entries.
    const counted = { resourceType: 'Bundle', type: 'searchset', total, link: [{ relation: 'self', url: selfUrl }] };
    return sendFhir(res, 200, counted as Bundle);
  }
  const page = await findPage(ctx, searchRequest, count, cursor);
  const served = page.resources.map((resource, i) => (i === 0 ? hostileCopy(resource, type, quirks.quirks) : resource));
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(total !== undefined ? { total } : {}),
    link: nextLinks(ctx, type, params, page, { requested, count }, selfUrl),
    ...(served.length
      ? {
          entry: served.map((resource) => ({
            fullUrl: `${ctx.base()}/${type}/${resource.id}`,
            resource,
            search: { mode: 'match' as const },
          })),
        }
      : {}),
  };
  for (const r of page.resources) {
    if ((r.meta?.tag ?? []).some((t) => t.code === 'sandbox-invalid')) quirks.counters.invalidServed++;
  }
  sendPage(res, JSON.stringify(bundle), quirks.quirks, quirks.takeMalformed());
}
