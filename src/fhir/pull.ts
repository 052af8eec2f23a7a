/**
 * Pulls a source's resources into the store, page by page. Each page's
 * resources, its dead letters and a checkpoint (where to resume) are committed
 * in one transaction before the next page is asked for; the watermark moves
 * when a type's pull completes. A crash resumes from the checkpoint; an
 * incremental pull searches `_lastUpdated=gt(watermark − overlap)` and the
 * content hash drops what did not change.
 *
 * This module chooses how each type is searched (system-wide, per patient, resumed, started again);
 * search-pages.ts follows one search's pages, batch-writer.ts stores them, classify-entries.ts sorts
 * their entries.
 */
import type { BundleEntry, Group } from '@medplum/fhirtypes';
import { groupMembersMoved, groupsNamed } from '../mapping/enrolment';
import { describeError, HttpError } from '../errors';
import { BatchWriter, type BatchOptions } from './batch-writer';
import type { TypeSupport } from './capabilities';
import { isRefusedOrigin } from './origins';
import { emptyReport, type PullContext, type PullMode, type PullReport, type TypeReport } from './pull-context';
import {
  AuthenticationFailed,
  asksForPatient,
  Interrupted,
  isAuthenticationFailure,
  isRefusedLink,
  PartialPull,
} from './pull-errors';
import { followPages, type PagesCheckpoint } from './search-pages';
import {
  isPerPatient,
  patientScope,
  readGroup,
  PerPatientPull,
  settleNewMembers,
  unitsFor,
  type PatientScope,
  type UnitsCheckpoint,
} from './per-patient';

type Checkpoint = PagesCheckpoint | UnitsCheckpoint;

/** How often one type's search starts again after refused next links before the type fails. */
const MAX_SEARCH_RESTARTS = 3;

export class SourcePuller {
  private readonly failedPatients = new Set<string>();
  private readonly writer: BatchWriter;
  private patients: Promise<PatientScope> | undefined;
  private readonly groups = new Map<string, Promise<Group>>();

  constructor(private readonly ctx: PullContext) {
    this.writer = new BatchWriter(ctx);
  }

  private support(type: string): TypeSupport {
    return this.ctx.capabilities?.types[type] ?? { listed: true, searchable: true, lastUpdated: true };
  }

  private retries(): number {
    return this.ctx.transportStats?.retries ?? 0;
  }

  /** A batch of entries stored by the writer (Bulk Data files use it; searches store their pages themselves). */
  storeBatch(report: TypeReport, entries: BundleEntry[], options: BatchOptions = {}): Promise<string | undefined> {
    return this.writer.store(report, entries, options);
  }

  private checkAbort(): void {
    if (this.ctx.signal?.aborted) throw new Interrupted('interrupted');
  }

  /** Before a type's resources are stored: whether stored versions may come again (to skip them early). */
  async prepareType(type: string, resumed: boolean): Promise<void> {
    if (resumed || (await this.ctx.store.getWatermark(this.ctx.source.id, type))) this.writer.markSeen(type);
  }

  /** A type pulled completely: its watermark moves (never back) and its search checkpoint goes. */
  async finish(type: string, maxLastUpdated: string | undefined): Promise<void> {
    const { store, source } = this.ctx;
    await store.transaction(async (tx) => {
      if (maxLastUpdated) await tx.advanceWatermark(source.id, type, new Date(maxLastUpdated));
      await tx.deleteCheckpoint(source.id, type);
    });
  }

  private async since(type: string): Promise<string | undefined> {
    if (this.ctx.full || !this.support(type).lastUpdated) return undefined;
    const watermark = await this.ctx.store.getWatermark(this.ctx.source.id, type);
    return watermark ? new Date(watermark.getTime() - this.ctx.source.overlapSeconds * 1000).toISOString() : undefined;
  }

  /** A search of `type` with `params` (a patient, ids, `_lastUpdated`) and the source's page size. */
  private searchUrl(type: string, params: URLSearchParams): string {
    params.set('_count', String(this.ctx.source.pageSize));
    return this.ctx.client.url(`${type}?${params}`);
  }

  private systemSearchUrl(type: string, since: string | undefined): string {
    return this.searchUrl(type, new URLSearchParams(since ? { _lastUpdated: `gt${since}` } : {}));
  }

  private async pullSystem(
    type: string,
    resume: PagesCheckpoint | undefined,
    report: TypeReport,
  ): Promise<string | undefined> {
    if (resume) {
      try {
        return await followPages(
          this.ctx,
          this.writer,
          report,
          resume.nextUrl,
          { maxLastUpdated: resume.maxLastUpdated, since: resume.since },
          true,
        );
      } catch (err) {
        // A next link can expire (opaque server-side paging state), or point where it may not (a checkpoint
        // saved by an earlier version): start again from the watermark.
        if (!isRefusedLink(err) && !isRefusedOrigin(err)) throw err;
        report.notes.push(
          `the saved next link could not be resumed (${err instanceof HttpError && err.status !== undefined ? `HTTP ${err.status}` : 'its origin is not allowed'}); pulled again from the watermark`,
        );
        report.mode = 'incremental';
        return this.followLinksRestarting(type, report, resume.since, resume.maxLastUpdated);
      }
    }
    return this.followLinksRestarting(type, report, report.since, undefined);
  }

  /**
   * The search from `since`, started again (at most MAX_SEARCH_RESTARTS times) when a next link is
   * refused mid-way: servers keep paging state for minutes only (Cerner's -pageContext). Pages already
   * stored come again and are skipped by version before any work.
   */
  private async followLinksRestarting(
    type: string,
    report: TypeReport,
    since: string | undefined,
    maxBefore: string | undefined,
  ): Promise<string | undefined> {
    let maxLastUpdated = maxBefore;
    for (let restarts = 0; ; restarts++) {
      const before = report.pages;
      try {
        return await followPages(
          this.ctx,
          this.writer,
          report,
          this.systemSearchUrl(type, since),
          { since, maxLastUpdated },
          true,
        );
      } catch (err) {
        // Only a link the server gave refused after pages of this search were stored: a refused first request is a real error.
        if (!isRefusedLink(err) || report.pages === before || restarts >= MAX_SEARCH_RESTARTS) throw err;
        report.notes.push(
          `a next link was refused after page ${report.pages} (HTTP ${err.status}, expired paging state); the search started again${since ? ` from ${since}` : ''}`,
        );
        maxLastUpdated =
          (await this.ctx.store.getCheckpoint<PagesCheckpoint>(this.ctx.source.id, type))?.state.maxLastUpdated ??
          maxLastUpdated;
        this.writer.markSeen(type);
      }
    }
  }

  /** A Group read once per run: the per-patient members and a programme's enrolment may name the same one. */
  private group(id: string): Promise<Group> {
    let read = this.groups.get(id);
    if (!read) this.groups.set(id, (read = readGroup(this.ctx.client, id)));
    return read;
  }

  /** The patients of this run's per-patient searches, read once (before Patient stores a new member). */
  private scope(): Promise<PatientScope> {
    return (this.patients ??= patientScope(this.ctx, (id) => this.group(id)));
  }

  private async pullPerPatient(
    type: string,
    resume: UnitsCheckpoint | undefined,
    report: TypeReport,
  ): Promise<string | undefined> {
    const scope = await this.scope();
    const since = resume?.since ?? report.since;
    const units = unitsFor(type, scope, since, (params) => this.searchUrl(type, params));
    return new PerPatientPull(this.ctx, this.writer, this.failedPatients).run(type, scope, units, resume, report);
  }

  async pullType(type: string): Promise<TypeReport> {
    const started = performance.now();
    const retriesBefore = this.retries();
    const support = this.support(type);
    if (!support.searchable) {
      const skipped = emptyReport(type, 'full');
      skipped.status = 'skipped';
      skipped.notes.push(support.note ?? 'not searchable on this server');
      this.ctx.onEvent?.({ type: 'type-finished', report: skipped });
      return skipped;
    }
    const checkpoint = this.ctx.full
      ? undefined
      : (await this.ctx.store.getCheckpoint<Checkpoint>(this.ctx.source.id, type))?.state;
    if (this.ctx.full) await this.ctx.store.deleteCheckpoint(this.ctx.source.id, type);
    await this.prepareType(type, !!checkpoint);
    const since = checkpoint?.since ?? (await this.since(type));
    const mode: PullMode = checkpoint ? 'resumed' : since ? 'incremental' : 'full';
    const report = emptyReport(type, mode, since);
    if (support.note) report.notes.push(support.note);
    this.ctx.onEvent?.({ type: 'type-started', resourceType: type, mode, since });
    try {
      const perPatient = isPerPatient(this.ctx.source, type);
      const maxLastUpdated = perPatient
        ? await this.pullPerPatient(type, checkpoint?.kind === 'patients' ? checkpoint : undefined, report)
        : await this.pullSystem(type, checkpoint?.kind === 'pages' ? checkpoint : undefined, report);
      await this.finish(type, maxLastUpdated);
    } catch (err) {
      if (isAuthenticationFailure(err)) throw new AuthenticationFailed(err);
      if (err instanceof PartialPull) {
        // Start the type again from the old watermark next run (stored resources are skipped by hash).
        await this.ctx.store.deleteCheckpoint(this.ctx.source.id, type);
      } else {
        report.status = err instanceof Interrupted ? 'interrupted' : 'failed';
        if (!(err instanceof Interrupted)) report.error = describeError(err);
        if (!isPerPatient(this.ctx.source, type) && asksForPatient(err)) {
          report.hint = `the server requires a patient for ${type} searches: set \`mode: per-patient\` on the source (with \`perPatientTypes\` listing ${type})`;
        }
      }
    }
    report.retries = this.retries() - retriesBefore;
    report.durationMs = Math.round(performance.now() - started);
    this.ctx.onEvent?.({ type: 'type-finished', report });
    return report;
  }

  /** Fetches Questionnaires that pulled responses refer to and the store lacks, so scoring can use them. */
  async pullReferencedQuestionnaires(): Promise<TypeReport | undefined> {
    if (this.writer.questionnaireRefs.size === 0) return undefined;
    const started = performance.now();
    const known = new Set(await this.ctx.store.listQuestionnaireUrls(this.ctx.source.id));
    const report = emptyReport('Questionnaire', 'full');
    let attempted = 0;
    for (const ref of [...this.writer.questionnaireRefs].sort()) {
      const canonical = ref.split('|')[0] as string;
      if (known.has(canonical)) continue;
      const local = /^(?:.*\/)?Questionnaire\/([A-Za-z0-9\-.]{1,64})$/.exec(canonical);
      if (local && (await this.ctx.store.getResource(this.ctx.source.id, 'Questionnaire', local[1] as string)))
        continue;
      attempted++;
      try {
        this.checkAbort();
        const url =
          local && (!/^https?:/.test(canonical) || canonical.startsWith(this.ctx.client.baseUrl))
            ? this.ctx.client.url(`Questionnaire?_id=${encodeURIComponent(local[1] as string)}`)
            : this.ctx.client.url(`Questionnaire?url=${encodeURIComponent(canonical)}`);
        const bundle = await this.ctx.client.getBundle(url);
        if (!bundle.entry?.some((e) => e.resource?.resourceType === 'Questionnaire')) {
          report.notes.push(`no Questionnaire found for ${canonical}`);
        }
        await this.storeBatch(report, bundle.entry ?? []);
      } catch (err) {
        if (err instanceof Interrupted) throw err;
        report.notes.push(`could not fetch Questionnaire ${canonical}: ${describeError(err)}`);
      }
    }
    report.durationMs = Math.round(performance.now() - started);
    return attempted > 0 ? report : undefined;
  }

  /**
   * Reads the Groups the source's programmes enrol by (`Group/{id}`, each run: membership changes).
   * A Group that cannot be read is noted, and its programme enrols nobody through it this run.
   */
  async pullNamedGroups(ids: readonly string[]): Promise<TypeReport | undefined> {
    if (ids.length === 0) return undefined;
    const started = performance.now();
    const report = emptyReport('Group', 'full');
    for (const id of ids) {
      try {
        this.checkAbort();
        const group = await this.group(id);
        const { store, source } = this.ctx;
        const before = (await store.getResource(source.id, 'Group', id))?.resource as Group | undefined;
        await this.storeBatch(report, [{ resource: group }]);
        // Who joined or left is enrolled or disenrolled at this run, not at their next day.
        const moved = groupMembersMoved(before, group);
        if (moved.length) await store.markPatientsToCompute(source.id, moved);
      } catch (err) {
        if (err instanceof Interrupted) throw err;
        report.status = 'failed';
        report.error ??= describeError(err);
        report.notes.push(`could not read Group/${id} (named by a programme): ${describeError(err)}`);
      }
    }
    report.durationMs = Math.round(performance.now() - started);
    return report;
  }

  /** Patients whose stored data changed other than by a stored page (resources the source deleted). */
  markChanged(patients: readonly string[]): void {
    for (const p of patients) this.writer.changedPatients.add(p);
  }

  changed(): string[] {
    return [...this.writer.changedPatients].sort();
  }

  failed(): string[] {
    return [...this.failedPatients].sort();
  }
}

/**
 * Pulls every configured type of a source, in order (Patient first, so per-patient searches know the
 * patients): by searches, or by `byExport` (src/fhir/bulk-pull.ts) when the run uses Bulk Data.
 */
export async function pullSource(
  ctx: PullContext,
  byExport?: (puller: SourcePuller, types: string[]) => Promise<TypeReport[]>,
): Promise<PullReport> {
  const puller = new SourcePuller(ctx);
  const order = [...ctx.source.resourceTypes].sort((a, b) => (a === 'Patient' ? -1 : b === 'Patient' ? 1 : 0));
  const types: TypeReport[] = [];
  if (byExport) {
    types.push(...(await byExport(puller, order)));
    if (types.some((t) => t.status === 'interrupted'))
      return { types, changedPatients: puller.changed(), failedPatients: puller.failed() };
  }
  for (const type of byExport ? [] : order) {
    const report = await puller.pullType(type);
    types.push(report);
    if (report.status === 'interrupted')
      return { types, changedPatients: puller.changed(), failedPatients: puller.failed() };
  }
  // Every type complete: members new to the Group have their history, and are searched as the others next run.
  if (types.every((t) => t.status === 'ok' || t.status === 'skipped')) await settleNewMembers(ctx);
  try {
    const groups = await puller.pullNamedGroups(groupsNamed(ctx.source.programmes ?? []));
    if (groups) types.push(groups);
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    return { types, changedPatients: puller.changed(), failedPatients: puller.failed() };
  }
  if (!ctx.source.resourceTypes.includes('Questionnaire')) {
    try {
      const q = await puller.pullReferencedQuestionnaires();
      if (q) types.push(q);
    } catch (err) {
      if (!(err instanceof Interrupted)) throw err;
    }
  }
  return { types, changedPatients: puller.changed(), failedPatients: puller.failed() };
}
