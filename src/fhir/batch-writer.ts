/**
 * Stores batches of entries of one type — a search page or a run of Bulk Data lines — in two halves:
 * `prepare` (stored versions looked up, entries validated and attributed, content hashed; no writes,
 * so it may run while the previous batch's statement is in flight) and `write` (one statement for a
 * plain page, else one transaction with the batch's dead letters, checkpoint and `save`); `account`
 * then counts the stored batch in its type's report, in page order. The writer remembers which
 * patients changed and which Questionnaires the responses named.
 */
import type { BundleEntry } from '@medplum/fhirtypes';
import { outcome } from '../errors';
import { patientIdentifierIndex, type PatientRefContext } from '../mapping/patient-ref';
import { resourceContentHash } from '../store/content-hash';
import { isDataRefusal, sqlStateOf } from '../store/refusal';
import type { Store } from '../store/store';
import type { DeadLetterInput, ResourceInput, UpsertResult } from '../store/types';
import { classifyEntries, isStoredVersion, type ClassifiedPage } from './classify-entries';
import { later, type PullContext, type TypeReport } from './pull-context';

/** A batch validated and hashed, waiting for its transaction. */
export interface PreparedBatch {
  page: ClassifiedPage;
  rows: ResourceInput[];
  maxLastUpdated: string | undefined;
}

/** What is stored with a batch: the lines' dead letters, and what `save` records in the same transaction. */
export interface BatchOptions {
  maxBefore?: string;
  save?: (tx: Store, maxLastUpdated: string | undefined) => Promise<void>;
  dead?: DeadLetterInput[];
}

export interface WriteOptions {
  save?: (tx: Store, maxLastUpdated: string | undefined) => Promise<void>;
  dead?: DeadLetterInput[];
  checkpoint?: unknown;
}

/** What storing a batch did. */
export interface WrittenBatch {
  upserted: UpsertResult | undefined;
  dead: number;
  ms: number;
}

function mergeUpserts(results: UpsertResult[]): UpsertResult | undefined {
  if (results.length === 0) return undefined;
  const patients = new Set(results.flatMap((r) => r.changedPatients));
  return {
    inserted: results.reduce((n, r) => n + r.inserted, 0),
    updated: results.reduce((n, r) => n + r.updated, 0),
    unchanged: results.reduce((n, r) => n + r.unchanged, 0),
    changedPatients: [...patients].sort(),
    changed: results.flatMap((r) => r.changed),
  };
}

export class BatchWriter {
  readonly changedPatients = new Set<string>();
  readonly questionnaireRefs = new Set<string>();
  /** How references find patients: the source's base URL, and (once Patients are pulled) their identifiers. */
  private refs: PatientRefContext;
  /** Types pulled before (a watermark or a checkpoint exists): pages may repeat stored versions. */
  private readonly seenBefore = new Set<string>();

  constructor(private readonly ctx: PullContext) {
    this.refs = { baseUrl: ctx.client.baseUrl };
  }

  /** Pages of `type` may repeat versions already stored (pulled before, or a search started again). */
  markSeen(type: string): void {
    this.seenBefore.add(type);
  }

  /**
   * Validates and stores a batch of entries of `report`'s type with its dead letters, and whatever
   * `save` records with them (a search checkpoint, a bulk file's progress), in one transaction.
   * Returns the greatest meta.lastUpdated seen so far.
   */
  async store(report: TypeReport, entries: BundleEntry[], options: BatchOptions = {}): Promise<string | undefined> {
    const prepared = await this.prepare(report, entries, options.maxBefore);
    await this.commit(report, prepared, options);
    return prepared.maxLastUpdated;
  }

  /**
   * The CPU half of storing a batch, before its transaction: stored versions looked up, entries
   * validated and attributed, content hashed. Stores nothing, so it may run while the previous
   * batch's transaction is still in flight.
   */
  async prepare(report: TypeReport, entries: BundleEntry[], maxBefore: string | undefined): Promise<PreparedBatch> {
    const { source, store } = this.ctx;
    const ids = entries
      .map((e) => e.resource)
      .filter((r) => r?.resourceType === report.resourceType && r.id)
      .map((r) => r?.id as string);
    // Nothing stored yet (a first pull): nothing to skip, and no lookup per page.
    const lookupStart = performance.now();
    const seen = this.seenBefore.has(report.resourceType)
      ? await store.storedVersions(source.id, report.resourceType, ids)
      : undefined;
    if (
      report.resourceType !== 'Patient' &&
      !this.refs.patientByIdentifier &&
      entries.some(
        (e) =>
          e.resource &&
          e.resource.resourceType !== 'OperationOutcome' &&
          !(e.resource.resourceType === report.resourceType && isStoredVersion(e.resource, seen)),
      )
    ) {
      // Logical references and contained patients are found through the patients' identifiers: read
      // once (Patient is always pulled first), and only when a page has something new to attribute —
      // a run that finds nothing new does not read every patient's identifiers.
      this.refs = { ...this.refs, patientByIdentifier: patientIdentifierIndex(await store.patientRoster(source.id)) };
    }
    const t0 = performance.now();
    report.timings.storeMs += t0 - lookupStart;
    const page = classifyEntries(entries, report.resourceType, this.ctx, this.refs, seen);
    report.timings.validateMs += performance.now() - t0;
    const t1 = performance.now();
    const rows = page.store.map((input) => ({ ...input, contentHash: resourceContentHash(input.resource) }));
    report.timings.storeMs += performance.now() - t1;
    return { page, rows, maxLastUpdated: later(maxBefore, page.maxLastUpdated) };
  }

  /** The I/O half: one transaction with the batch's resources, dead letters and `save`; then the report. */
  private async commit(report: TypeReport, prepared: PreparedBatch, options: WriteOptions): Promise<void> {
    const written = await this.write(report, prepared, options);
    await this.account(report, prepared, written);
  }

  /**
   * Stores a prepared batch: one statement for a plain page, else a transaction. Touches no report.
   * A batch the store refuses for its data (isDataRefusal) costs only the resources it refuses:
   * see writeNarrowed.
   */
  async write(report: TypeReport, prepared: PreparedBatch, options: WriteOptions): Promise<WrittenBatch> {
    const started = performance.now();
    let result: Omit<WrittenBatch, 'ms'>;
    try {
      result = await this.writeOnce(report, prepared, options);
    } catch (err) {
      if (!isDataRefusal(err)) throw err;
      result = await this.writeNarrowed(report, prepared, options);
    }
    return { ...result, ms: performance.now() - started };
  }

  /**
   * The batch again, its resources stored in halves until the ones the store refuses are found
   * alone: those become dead letters (named, with the SQLSTATE, never the driver's text, which may
   * quote the value), the rest is stored, and then the dead letters, checkpoint and `save` commit
   * together as they would have. Upserts are idempotent, so a half stored before a failure is
   * stored again as unchanged.
   */
  private async writeNarrowed(
    report: TypeReport,
    { page, rows, maxLastUpdated }: PreparedBatch,
    options: WriteOptions,
  ): Promise<Omit<WrittenBatch, 'ms'>> {
    const { source, store, runId } = this.ctx;
    const refused: DeadLetterInput[] = [];
    const stored: UpsertResult[] = [];
    const storeRows = async (part: ResourceInput[]): Promise<void> => {
      try {
        stored.push(await store.upsertResources(source.id, runId, part));
      } catch (err) {
        if (!isDataRefusal(err)) throw err;
        if (part.length > 1) {
          const half = Math.ceil(part.length / 2);
          await storeRows(part.slice(0, half));
          await storeRows(part.slice(half));
          return;
        }
        const { resource } = part[0] as ResourceInput;
        const name = `${resource.resourceType}/${resource.id ?? '?'}`;
        refused.push({
          sourceId: source.id,
          runId,
          stage: 'pull',
          resourceType: resource.resourceType,
          resourceId: resource.id,
          payload: resource,
          outcome: outcome(
            'exception',
            `${name} was refused by the store (SQLSTATE ${sqlStateOf(err)}); nothing of it is stored, the rest of its page is`,
            [report.resourceType],
          ),
        });
      }
    };
    await storeRows(rows);
    const dead = [...(options.dead ?? []), ...page.dead, ...refused];
    const added = await store.transaction(async (tx) => {
      const n = dead.length ? await tx.addDeadLetters(dead) : 0;
      if (options.checkpoint !== undefined)
        await tx.saveCheckpoint(source.id, report.resourceType, runId, options.checkpoint);
      await options.save?.(tx, maxLastUpdated);
      return n;
    });
    return { upserted: mergeUpserts(stored), dead: added };
  }

  private async writeOnce(
    report: TypeReport,
    { page, rows, maxLastUpdated }: PreparedBatch,
    options: WriteOptions,
  ): Promise<Omit<WrittenBatch, 'ms'>> {
    const { source, store, runId } = this.ctx;
    const dead = [...(options.dead ?? []), ...page.dead];
    const checkpoint = options.checkpoint;
    const result =
      dead.length === 0 && rows.length > 0 && !options.save
        ? // The common page: its resources (and checkpoint) in one statement.
          {
            upserted: await store.storePage(
              source.id,
              runId,
              rows,
              checkpoint !== undefined ? { resourceType: report.resourceType, state: checkpoint } : undefined,
            ),
            dead: 0,
          }
        : await store.transaction(async (tx) => {
            const upserted = rows.length ? await tx.upsertResources(source.id, runId, rows) : undefined;
            const added = dead.length ? await tx.addDeadLetters(dead) : 0;
            if (checkpoint !== undefined) await tx.saveCheckpoint(source.id, report.resourceType, runId, checkpoint);
            await options.save?.(tx, maxLastUpdated);
            return { upserted, dead: added };
          });
    return result;
  }

  /** A stored batch counted in its type's report (in page order), then announced. */
  async account(report: TypeReport, { page }: PreparedBatch, result: WrittenBatch): Promise<void> {
    report.timings.storeMs += result.ms;
    report.pages++;
    report.received += page.received;
    report.unchanged += page.skipped;
    report.included += page.included;
    report.outcomes += page.outcomes;
    report.warnings += page.warnings;
    // Only dead letters added now: an invalid resource seen again (overlap window, --full) is already open.
    report.deadLettered += result.dead;
    if (result.upserted) {
      report.new += result.upserted.inserted;
      report.changed += result.upserted.updated;
      report.unchanged += result.upserted.unchanged;
      for (const p of result.upserted.changedPatients) this.changedPatients.add(p);
    }
    for (const q of page.questionnaires) this.questionnaireRefs.add(q);
    this.ctx.onEvent?.({ type: 'page', resourceType: report.resourceType, report });
    await this.ctx.afterPageCommitted?.(report.resourceType, report.pages);
  }
}
