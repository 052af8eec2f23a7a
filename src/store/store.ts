/**
 * The one Store of fhir-engage: typed operations over a Driver. SQL lives in
 * queries.ts; this file maps rows to records and keeps batches in bounds.
 */
import type { Db, Driver, LockBusy, SqlQuery } from './driver';
import * as sql from './queries';
import { contentHash, resourceContentHash } from './content-hash';
import { replaceForbiddenCharacters, storableCopy } from '../validation/json-safety';
import type {
  BulkExportState,
  BulkFileState,
  DeadLetter,
  DeadLetterInput,
  IndicatorRecord,
  IndicatorValue,
  OutboxItem,
  ResourceInput,
  RunRecord,
  RunStatus,
  SourceRecord,
  StoredResource,
  TaskEvent,
  UpsertResult,
  WrittenResource,
  WrittenState,
} from './types';
import { storeError } from '../errors';
import type { Identifier, PatientLink } from '@medplum/fhirtypes';

type Row = Record<string, unknown>;

/** Rows per multi-row statement: large enough to amortise round trips, small enough for parameter limits. */
const BATCH_ROWS = 500;

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function toRun(r: Row): RunRecord {
  return {
    id: String(r.id),
    sourceId: String(r.source_id),
    status: r.status as RunStatus,
    asOf: date(r.as_of),
    options: (r.options ?? {}) as Record<string, unknown>,
    counts: (r.counts ?? {}) as Record<string, unknown>,
    error: r.error ?? null,
    startedAt: date(r.started_at),
    heartbeatAt: date(r.heartbeat_at),
    finishedAt: dateOrNull(r.finished_at),
  };
}

function toOutbox(r: Row): OutboxItem {
  return {
    id: Number(r.id),
    sourceId: String(r.source_id),
    runId: str(r.run_id),
    target: String(r.target),
    dedupeKey: String(r.dedupe_key),
    resourceType: String(r.resource_type),
    payload: r.payload,
    contentHash: String(r.content_hash),
    state: r.state as OutboxItem['state'],
    attempts: Number(r.attempts),
    claimedBy: str(r.claimed_by),
    leaseUntil: dateOrNull(r.lease_until),
    lastError: r.last_error ?? null,
    result: r.result ?? null,
    createdAt: date(r.created_at),
    sentAt: dateOrNull(r.sent_at),
  };
}

function toDeadLetter(r: Row): DeadLetter {
  return {
    id: Number(r.id),
    sourceId: String(r.source_id),
    runId: str(r.run_id),
    stage: r.stage as DeadLetter['stage'],
    resourceType: str(r.resource_type),
    resourceId: str(r.resource_id),
    payload: r.payload ?? null,
    outcome: r.outcome as DeadLetter['outcome'],
    createdAt: date(r.created_at),
  };
}

function toStoredResource(r: Row): StoredResource {
  return {
    sourceId: String(r.source_id),
    resourceType: String(r.resource_type),
    resourceId: String(r.resource_id),
    versionId: str(r.version_id),
    lastUpdated: dateOrNull(r.last_updated),
    contentHash: String(r.content_hash),
    patientId: str(r.patient_id),
    resource: r.resource as Record<string, unknown>,
    runId: str(r.run_id),
  };
}

function toWritten(r: Row): WrittenResource {
  return {
    sourceId: String(r.source_id),
    identifierValue: String(r.identifier_value),
    resourceType: String(r.resource_type),
    patientId: String(r.patient_id),
    rule: String(r.rule),
    target: String(r.target),
    serverId: str(r.server_id),
    versionId: str(r.version_id),
    contentHash: String(r.content_hash),
    status: str(r.status),
    state: r.state as WrittenState,
    runId: str(r.run_id),
    updatedAt: date(r.updated_at),
  };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(items.slice(i, i + size));
  }
  return out;
}

export class Store {
  constructor(
    protected readonly db: Db,
    readonly driver: Driver,
  ) {}

  get kind(): Driver['kind'] {
    return this.driver.kind;
  }

  /** Runs `fn` in one transaction: everything it stores commits together or not at all. */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    return this.driver.transaction((db) => fn(new Store(db, this.driver)));
  }

  tryWithAdvisoryLock<T>(name: string, fn: (lockLost: AbortSignal) => Promise<T>): Promise<T | LockBusy> {
    return this.driver.tryWithAdvisoryLock(name, fn);
  }

  close(): Promise<void> {
    return this.driver.close();
  }

  async ping(): Promise<void> {
    await this.db.query({ text: 'SELECT 1', values: [] });
  }

  // ── sources ──
  async upsertSource(source: { id: string; name?: string; baseUrl: string }): Promise<void> {
    await this.db.query(sql.upsertSource(source.id, source.name ?? null, source.baseUrl));
  }

  async listSources(): Promise<SourceRecord[]> {
    const rows = await this.db.query(sql.listSources());
    return rows.map((r) => ({
      id: String(r.id),
      name: str(r.name),
      baseUrl: String(r.base_url),
      createdAt: date(r.created_at),
      updatedAt: date(r.updated_at),
    }));
  }

  // ── runs ──
  async createRun(run: {
    id: string;
    sourceId: string;
    asOf: Date;
    options?: Record<string, unknown>;
  }): Promise<RunRecord> {
    const rows = await this.db.query(sql.insertRun(run.id, run.sourceId, run.asOf, run.options ?? {}));
    return toRun(rows[0] as Row);
  }

  async finishRun(id: string, status: RunStatus, counts: unknown, error?: unknown): Promise<RunRecord> {
    const rows = await this.db.query(sql.finishRun(id, status, counts, error));
    if (rows.length === 0) {
      throw storeError(`no sync run ${id}`);
    }
    return toRun(rows[0] as Row);
  }

  async heartbeatRun(id: string, counts: unknown): Promise<void> {
    await this.db.query(sql.heartbeatRun(id, counts));
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const rows = await this.db.query(sql.getRun(id));
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  async listRuns(options: { sourceId?: string; limit?: number } = {}): Promise<RunRecord[]> {
    const rows = await this.db.query(sql.listRuns(options.sourceId ?? null, options.limit ?? 50));
    return rows.map(toRun);
  }

  /** Marks runs of a dead process as interrupted and returns them (resumed by the caller). */
  async markStaleRunsInterrupted(sourceId: string, staleSeconds: number): Promise<RunRecord[]> {
    const rows = await this.db.query(sql.markStaleRunsInterrupted(sourceId, staleSeconds));
    return rows.map(toRun);
  }

  // ── watermarks ──
  async getWatermark(sourceId: string, resourceType: string): Promise<Date | undefined> {
    const rows = await this.db.query(sql.getWatermark(sourceId, resourceType));
    return rows[0] ? date(rows[0].last_updated) : undefined;
  }

  async advanceWatermark(sourceId: string, resourceType: string, lastUpdated: Date): Promise<void> {
    await this.db.query(sql.advanceWatermark(sourceId, resourceType, lastUpdated));
  }

  // ── resources ──
  /**
   * Stores pulled resources. Same content twice → one row and no write;
   * within one call, a later copy of the same resource wins.
   */
  async upsertResources(sourceId: string, runId: string | null, inputs: ResourceInput[]): Promise<UpsertResult> {
    return this.upsertRows(sourceId, runId, inputs);
  }

  /**
   * A search page and its checkpoint (if any), committed together. A page that fits one statement is
   * one statement (one round trip, no transaction around it); a larger one with a checkpoint, one
   * transaction.
   */
  async storePage(
    sourceId: string,
    runId: string | null,
    inputs: ResourceInput[],
    checkpoint?: { resourceType: string; state: unknown },
  ): Promise<UpsertResult> {
    if (!checkpoint || (inputs.length > 0 && inputs.length <= BATCH_ROWS))
      return this.upsertRows(sourceId, runId, inputs, checkpoint);
    return this.transaction(async (tx) => {
      const result = await tx.upsertResources(sourceId, runId, inputs);
      await tx.saveCheckpoint(sourceId, checkpoint.resourceType, runId, checkpoint.state);
      return result;
    });
  }

  private async upsertRows(
    sourceId: string,
    runId: string | null,
    inputs: ResourceInput[],
    checkpoint?: { resourceType: string; state: unknown },
  ): Promise<UpsertResult> {
    const byKey = new Map<string, sql.ResourceRow>();
    for (const { resource, patientId, contentHash } of inputs) {
      if (!resource.id) {
        throw storeError(`a ${resource.resourceType} without an id cannot be stored`);
      }
      const lastUpdated = resource.meta?.lastUpdated ? new Date(resource.meta.lastUpdated) : null;
      byKey.set(`${resource.resourceType}/${resource.id}`, {
        resourceType: resource.resourceType,
        resourceId: resource.id,
        versionId: resource.meta?.versionId ?? null,
        lastUpdated: lastUpdated && !Number.isNaN(lastUpdated.getTime()) ? lastUpdated : null,
        contentHash: contentHash ?? resourceContentHash(resource),
        patientId: patientId ?? null,
        resource,
      });
    }
    const result: UpsertResult = { inserted: 0, updated: 0, unchanged: 0, changedPatients: [], changed: [] };
    const patients = new Set<string>();
    // A checkpoint is only passed for inputs that fit one batch (storePage): it commits with them.
    // Rows go in id order: two pages stored at once then take their row locks in the same order (a
    // resource on both pages waits instead of deadlocking).
    const sorted = [...byKey.values()].sort((x, y) =>
      x.resourceId < y.resourceId ? -1 : x.resourceId > y.resourceId ? 1 : 0,
    );
    for (const batch of chunks(sorted, BATCH_ROWS)) {
      const rows = await this.db.query(sql.upsertResources(sourceId, runId, batch, checkpoint));
      for (const r of rows) {
        const inserted = r.inserted === true;
        result.changed.push({ resourceType: String(r.resource_type), resourceId: String(r.resource_id), inserted });
        if (inserted) result.inserted++;
        else result.updated++;
        if (r.patient_id) patients.add(String(r.patient_id));
      }
      result.unchanged += batch.length - rows.length;
    }
    result.changedPatients = [...patients].sort();
    return result;
  }

  async getResource(sourceId: string, resourceType: string, resourceId: string): Promise<StoredResource | undefined> {
    const rows = await this.db.query(sql.getResource(sourceId, resourceType, resourceId));
    return rows[0] ? toStoredResource(rows[0]) : undefined;
  }

  async countResources(sourceId: string): Promise<Record<string, number>> {
    const rows = await this.db.query(sql.countResources(sourceId));
    return Object.fromEntries(rows.map((r) => [String(r.resource_type), Number(r.n)]));
  }

  // ── pull checkpoints ──
  async saveCheckpoint(sourceId: string, resourceType: string, runId: string | null, state: unknown): Promise<void> {
    await this.db.query(sql.saveCheckpoint(sourceId, resourceType, runId, state));
  }

  async getCheckpoint<T = unknown>(
    sourceId: string,
    resourceType: string,
  ): Promise<{ state: T; runId: string | null } | undefined> {
    const rows = await this.db.query(sql.getCheckpoint(sourceId, resourceType));
    return rows[0] ? { state: rows[0].state as T, runId: str(rows[0].run_id) } : undefined;
  }

  async deleteCheckpoint(sourceId: string, resourceType: string): Promise<void> {
    await this.db.query(sql.deleteCheckpoint(sourceId, resourceType));
  }

  // ── retention ──
  /** Removes history and finished records older than `before`, in one transaction; rows removed per table. */
  async purgeBefore(before: Date): Promise<Record<string, number>> {
    return this.transaction(async (tx) => {
      const removed: Record<string, number> = {};
      for (const { table, query } of sql.purgeBefore(before)) removed[table] = (await tx.db.query(query)).length;
      return removed;
    });
  }

  /**
   * Every row of a source, table by table: counted, or with `remove` deleted in one transaction
   * (the `sources` row too). Under the source's sync lock, so that no run of it writes meanwhile.
   */
  async purgeSource(sourceId: string, remove: boolean): Promise<Record<sql.SourceTable, number> | LockBusy> {
    return this.tryWithAdvisoryLock(`sync:${sourceId}`, () =>
      this.transaction(async (tx) => {
        const rows = {} as Record<sql.SourceTable, number>;
        for (const table of sql.SOURCE_TABLES)
          rows[table] = Number((await tx.db.query(sql.sourceRows(table, sourceId, remove)))[0]?.n ?? 0);
        if (remove) await tx.db.query(sql.deleteSource(sourceId));
        return rows;
      }),
    );
  }

  // ── monitoring ──
  async monitoringGauges(): Promise<
    { sourceId: string; openDeadLetters: number; outboxDepth: number; lastSuccess: Date | null }[]
  > {
    return (await this.db.query(sql.monitoringGauges())).map((r) => ({
      sourceId: String(r.source_id),
      openDeadLetters: Number(r.open_dead_letters),
      outboxDepth: Number(r.outbox_depth),
      lastSuccess: dateOrNull(r.last_success),
    }));
  }

  // ── API keys and the access log ──
  async addApiKey(id: string, digestHex: string): Promise<void> {
    await this.db.query(sql.addApiKey(id, digestHex));
  }

  async listApiKeyDigests(): Promise<string[]> {
    return (await this.db.query(sql.listApiKeyDigests())).map((r) => String(r.digest));
  }

  async recordAccess(row: sql.AccessRow): Promise<void> {
    await this.db.query(sql.recordAccess(row));
  }

  /** Several access-log rows, all or none (the API sends patient data only once they are stored). */
  async recordAccesses(rows: sql.AccessRow[]): Promise<void> {
    if (rows.length === 1) return this.recordAccess(rows[0] as sql.AccessRow);
    await this.transaction(async (tx) => {
      for (const row of rows) await tx.recordAccess(row);
    });
  }

  async listAccess(
    options: { patientId?: string; keyId?: string; from?: Date; to?: Date; limit?: number } = {},
  ): Promise<(sql.AccessRow & { id: number; at: Date })[]> {
    const rows = await this.db.query(
      sql.listAccess(
        {
          patientId: options.patientId ?? null,
          keyId: options.keyId ?? null,
          from: options.from ?? null,
          to: options.to ?? null,
        },
        options.limit ?? 500,
      ),
    );
    return rows.map((r) => ({
      id: Number(r.id),
      at: dateOrNull(r.at) ?? new Date(0),
      keyId: String(r.key_id),
      client: str(r.client),
      method: String(r.method),
      route: String(r.route),
      status: Number(r.status),
      sourceId: str(r.source_id),
      patientId: str(r.patient_id),
    }));
  }

  /** Removes access-log rows older than `before` (retention); returns how many. */
  async purgeAccessBefore(before: Date): Promise<number> {
    return (await this.db.query(sql.purgeAccessBefore(before))).length;
  }

  // ── bulk exports ──
  /** Records a kicked-off export (replacing any earlier one of the source, and its files). */
  async saveBulkExport(sourceId: string, runId: string | null, statusUrl: string, request: unknown): Promise<void> {
    await this.db.query(sql.deleteBulkExport(sourceId)[0] as SqlQuery);
    await this.db.query(sql.saveBulkExport(sourceId, runId, statusUrl, request));
  }

  async getBulkExport(sourceId: string): Promise<BulkExportState | undefined> {
    const row = (await this.db.query(sql.getBulkExport(sourceId)))[0];
    if (!row) return undefined;
    const files = (await this.db.query(sql.listBulkFiles(sourceId))).map((r) => ({
      url: String(r.url),
      kind: r.kind as BulkFileState['kind'],
      resourceType: String(r.resource_type),
      position: Number(r.position),
      lines: Number(r.lines),
      bytes: Number(r.bytes),
      done: r.done === true,
      counts: (r.counts ?? {}) as Record<string, number>,
    }));
    return {
      runId: str(row.run_id),
      statusUrl: String(row.status_url),
      request: row.request,
      kickedOffAt: dateOrNull(row.kicked_off_at) ?? new Date(0),
      manifest: row.manifest ?? undefined,
      files,
    };
  }

  /** The manifest and its files, together (call inside a transaction). */
  async saveBulkManifest(sourceId: string, manifest: unknown, files: sql.BulkFileRow[]): Promise<void> {
    await this.db.query(sql.saveBulkManifest(sourceId, manifest));
    if (files.length) await this.db.query(sql.addBulkFiles(sourceId, files));
  }

  /** A file's committed lines and bytes, and what its lines counted beyond resources (errors by type, deletions). */
  async saveBulkFileProgress(
    sourceId: string,
    url: string,
    progress: { lines: number; bytes: number; done: boolean; counts?: Record<string, number> },
  ): Promise<void> {
    await this.db.query(
      sql.saveBulkFileProgress(sourceId, url, progress.lines, progress.bytes, progress.done, progress.counts ?? {}),
    );
  }

  /**
   * Removes resources the source deleted (a Bulk Data export's `deleted` files); returns how many were
   * stored and the patients they belonged to (to be recomputed without them).
   */
  async deleteResources(
    sourceId: string,
    refs: { resourceType: string; resourceId: string }[],
  ): Promise<{ deleted: number; patients: string[] }> {
    if (refs.length === 0) return { deleted: 0, patients: [] };
    const rows = await this.db.query(sql.deleteResources(sourceId, refs));
    return {
      deleted: rows.length,
      patients: [...new Set(rows.map((r) => r.patient_id).filter((p): p is string => typeof p === 'string'))].sort(),
    };
  }

  async deleteBulkExport(sourceId: string): Promise<void> {
    for (const query of sql.deleteBulkExport(sourceId)) await this.db.query(query);
  }

  /** Canonical URLs of the Questionnaires stored for a source. */
  async listQuestionnaireUrls(sourceId: string): Promise<string[]> {
    const rows = await this.db.query(sql.listQuestionnaireUrls(sourceId));
    return rows.map((r) => String(r.url));
  }

  /** Logical ids of the stored resources of a type, sorted (e.g. the patients of a source). */
  async listResourceIds(sourceId: string, resourceType: string): Promise<string[]> {
    const rows = await this.db.query(sql.listResourceIds(sourceId, resourceType));
    return rows.map((r) => String(r.resource_id));
  }

  /** `versionId|lastUpdated` of stored resources of a type, by id: what a pull has already seen. */
  async storedVersions(sourceId: string, resourceType: string, ids: string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db.query(sql.storedVersions(sourceId, resourceType, ids));
    return new Map(
      rows.map((r) => [
        String(r.resource_id),
        `${str(r.version_id) ?? ''}|${dateOrNull(r.last_updated)?.toISOString() ?? ''}`,
      ]),
    );
  }

  async touchResource(sourceId: string, resourceType: string, resourceId: string): Promise<boolean> {
    return (await this.db.query(sql.touchResource(sourceId, resourceType, resourceId))).length === 1;
  }

  /** The source's patients with their links and identifiers: who may be computed for, and how references find them. */
  async patientRoster(sourceId: string): Promise<{ id: string; link?: PatientLink[]; identifier?: Identifier[] }[]> {
    const rows = await this.db.query(sql.patientRoster(sourceId));
    return rows.map((r) => ({
      id: String(r.resource_id),
      ...(Array.isArray(r.link) ? { link: r.link as PatientLink[] } : {}),
      ...(Array.isArray(r.identifier) ? { identifier: r.identifier as Identifier[] } : {}),
    }));
  }

  // ── outbox ──
  /** Enqueues writes; returns how many were new (re-planning a live write is a no-op). */
  async enqueueOutbox(
    sourceId: string,
    runId: string | null,
    items: Omit<sql.OutboxInsert, 'contentHash'>[],
  ): Promise<number> {
    let added = 0;
    for (const batch of chunks(items, BATCH_ROWS)) {
      const rows = await this.db.query(
        sql.enqueueOutbox(
          sourceId,
          runId,
          batch.map((i) => ({ ...i, contentHash: contentHash(i.payload) })),
        ),
      );
      added += rows.length;
    }
    return added;
  }

  async claimOutbox(options: {
    workerId: string;
    limit: number;
    leaseSeconds: number;
    sourceId?: string;
  }): Promise<OutboxItem[]> {
    const rows = await this.db.query(
      sql.claimOutbox(options.sourceId ?? null, options.workerId, options.limit, options.leaseSeconds),
    );
    return rows.map(toOutbox).sort((a, b) => a.id - b.id);
  }

  /** Marks a claimed row sent. False when the claim was lost (lease expired and taken by another worker). */
  async ackOutbox(id: number, workerId: string, result: unknown): Promise<boolean> {
    const rows = await this.db.query(sql.ackOutbox(id, workerId, result));
    return rows.length === 1;
  }

  /** Records a failed attempt; `retryInSeconds` null fails it for good. */
  async failOutbox(id: number, workerId: string, error: unknown, retryInSeconds: number | null): Promise<boolean> {
    const rows = await this.db.query(sql.failOutbox(id, workerId, error, retryInSeconds));
    return rows.length === 1;
  }

  /** Returns rows claimed by a worker that died to pending; call only while holding the source's sync lock. */
  async releaseOutboxClaims(sourceId: string): Promise<number> {
    return (await this.db.query(sql.releaseOutboxClaims(sourceId))).length;
  }

  async outboxCounts(sourceId?: string): Promise<Record<string, number>> {
    const rows = await this.db.query(sql.outboxCounts(sourceId ?? null));
    return Object.fromEntries(rows.map((r) => [String(r.state), Number(r.n)]));
  }

  // ── dead letters ──
  async addDeadLetters(items: DeadLetterInput[]): Promise<number> {
    let n = 0;
    for (const batch of chunks(items, BATCH_ROWS)) {
      const rows = await this.db.query(
        sql.insertDeadLetters(
          batch.map((i) => {
            // What a dead letter keeps must be storable whatever the EMR sent (a NUL, an unpaired
            // surrogate, a resource nested 500 deep): it is why the resource is a dead letter.
            const payload = storableCopy(i.payload);
            const resourceId = i.resourceId == null ? null : replaceForbiddenCharacters(i.resourceId);
            return {
              sourceId: i.sourceId,
              runId: i.runId ?? null,
              stage: i.stage,
              resourceType: i.resourceType == null ? null : replaceForbiddenCharacters(i.resourceType),
              resourceId,
              payload,
              outcome: storableCopy(i.outcome),
              // Only a resource has an identity to deduplicate on; other dead letters are all kept.
              payloadHash: resourceId && payload !== undefined ? contentHash(payload) : null,
            };
          }),
        ),
      );
      n += rows.length;
    }
    return n;
  }

  async listDeadLetters(
    options: { sourceId?: string; runId?: string; resourceType?: string; stage?: string; limit?: number } = {},
  ): Promise<DeadLetter[]> {
    const filter = {
      sourceId: options.sourceId ?? null,
      runId: options.runId ?? null,
      resourceType: options.resourceType ?? null,
      stage: options.stage ?? null,
    };
    const rows = await this.db.query(sql.listDeadLetters(filter, options.limit ?? 100));
    return rows.map(toDeadLetter);
  }

  /** Closes an open dead letter without retrying it, keeping the reason and who dismissed it; false when not open. */
  async dismissDeadLetter(id: number, reason: string, by: string): Promise<boolean> {
    return (await this.db.query(sql.dismissDeadLetter(id, reason, by))).length === 1;
  }

  async patientsByIdentifier(
    system: string | undefined,
    value: string,
  ): Promise<{ sourceId: string; patientId: string }[]> {
    const rows = await this.db.query(sql.patientsByIdentifier(system ?? null, value));
    return rows.map((r) => ({ sourceId: String(r.source_id), patientId: String(r.resource_id) }));
  }

  async getModel(
    sourceId: string,
    patientId: string,
  ): Promise<{ model: unknown; indicators: unknown; computedAsOf: Date | null } | undefined> {
    const row = (await this.db.query(sql.getModel(sourceId, patientId)))[0];
    return row
      ? { model: row.model, indicators: row.indicators, computedAsOf: dateOrNull(row.computed_as_of) }
      : undefined;
  }

  async getDeadLetter(id: number): Promise<DeadLetter | undefined> {
    const rows = await this.db.query(sql.getDeadLetter(id));
    return rows[0] ? toDeadLetter(rows[0]) : undefined;
  }

  async resolveDeadLetter(id: number): Promise<boolean> {
    return (await this.db.query(sql.resolveDeadLetter(id))).length === 1;
  }

  async countDeadLetters(options: { sourceId?: string; runId?: string } = {}): Promise<number> {
    const rows = await this.db.query(sql.countDeadLetters(options.sourceId ?? null, options.runId ?? null));
    return Number(rows[0]?.n ?? 0);
  }

  // ── written resources ──
  async upsertWritten(w: Omit<WrittenResource, 'updatedAt'>): Promise<void> {
    await this.db.query(sql.upsertWritten(w));
  }

  async getWritten(sourceId: string, identifierValue: string): Promise<WrittenResource | undefined> {
    const rows = await this.db.query(sql.getWritten(sourceId, identifierValue));
    return rows[0] ? toWritten(rows[0]) : undefined;
  }

  async listWrittenForPatients(sourceId: string, patientIds: string[]): Promise<WrittenResource[]> {
    if (patientIds.length === 0) return [];
    const rows = await this.db.query(sql.listWrittenForPatients(sourceId, patientIds));
    return rows.map(toWritten);
  }

  async countWritten(sourceId?: string): Promise<{ resourceType: string; state: string; n: number }[]> {
    const rows = await this.db.query(sql.countWritten(sourceId ?? null));
    return rows.map((r) => ({ resourceType: String(r.resource_type), state: String(r.state), n: Number(r.n) }));
  }

  /** Forgets everything stored for a source but its run history, in one transaction. */
  async resetSourceData(sourceId: string): Promise<void> {
    await this.transaction(async (tx) => {
      for (const query of sql.resetSourceData(sourceId)) await tx.db.query(query);
    });
  }

  // ── programme ──
  /**
   * Every patient's latest indicators (and engagement model, with `models`) of a source or of all,
   * handed to `fn` a page at a time in (source, patient) order: the programme figures read mapped
   * facts of the whole population with memory bounded by the page.
   */
  async forEachComputationPage(
    options: { sourceId?: string; models: boolean; pageSize?: number },
    fn: (rows: { sourceId: string; patientId: string; indicators: unknown; model?: unknown }[]) => void | Promise<void>,
  ): Promise<void> {
    const limit = options.pageSize ?? 500;
    let after: { sourceId: string; patientId: string } | null = null;
    for (;;) {
      const rows: Record<string, unknown>[] = await this.db.query(
        sql.pageComputations(options.sourceId ?? null, after, limit, options.models),
      );
      if (rows.length === 0) return;
      const page: { sourceId: string; patientId: string; indicators: unknown; model?: unknown }[] = rows.map((r) => ({
        sourceId: String(r.source_id),
        patientId: String(r.patient_id),
        indicators: r.indicators,
        ...(options.models ? { model: r.model } : {}),
      }));
      await fn(page);
      if (rows.length < limit) return;
      const last = page[page.length - 1] as { sourceId: string; patientId: string };
      after = { sourceId: last.sourceId, patientId: last.patientId };
    }
  }

  /** Records the statuses of fhir-engage's Tasks as read back from the EMR; returns how many were new. */
  async recordTaskEvents(sourceId: string, rows: sql.TaskEventRow[]): Promise<number> {
    let n = 0;
    for (const batch of chunks(rows, BATCH_ROWS))
      n += (await this.db.query(sql.insertTaskEvents(sourceId, batch))).length;
    return n;
  }

  async listTaskEvents(sourceId?: string): Promise<TaskEvent[]> {
    const rows = await this.db.query(sql.listTaskEvents(sourceId ?? null));
    return rows.map((r) => ({
      sourceId: String(r.source_id),
      identifierValue: String(r.identifier_value),
      taskId: String(r.task_id),
      patientId: str(r.patient_id),
      rule: str(r.rule),
      status: String(r.status),
      owner: str(r.owner),
      focus: str(r.focus),
      authoredOn: dateOrNull(r.authored_on),
      changedAt: date(r.changed_at),
    }));
  }

  async listWrittenByRule(
    rules: string[],
    sourceId?: string,
  ): Promise<
    {
      sourceId: string;
      identifierValue: string;
      rule: string;
      patientId: string;
      state: string;
      status: string | null;
    }[]
  > {
    const rows = await this.db.query(sql.listWrittenByRule(sourceId ?? null, rules));
    return rows.map((r) => ({
      sourceId: String(r.source_id),
      identifierValue: String(r.identifier_value),
      rule: String(r.rule),
      patientId: String(r.patient_id),
      state: String(r.state),
      status: str(r.status),
    }));
  }

  async resourcesOfTypes(
    types: string[],
    sourceId?: string,
  ): Promise<{ sourceId: string; patientId: string | null; resource: Record<string, unknown> }[]> {
    const rows = await this.db.query(sql.resourcesOfTypes(sourceId ?? null, types));
    return rows.map((r) => ({
      sourceId: String(r.source_id),
      patientId: str(r.patient_id),
      resource: r.resource as Record<string, unknown>,
    }));
  }

  /** The value of one indicator in force at an instant, per patient. */
  async indicatorValuesAt(
    indicator: string,
    at: Date,
    sourceId?: string,
  ): Promise<{ sourceId: string; patientId: string; value: unknown }[]> {
    const rows = await this.db.query(sql.indicatorValuesUpTo(sourceId ?? null, indicator, at));
    return rows.map((r) => ({ sourceId: String(r.source_id), patientId: String(r.patient_id), value: r.value }));
  }

  async saveProgrammeHistory(sourceId: string, asOf: Date, figures: unknown, runId: string | null): Promise<void> {
    await this.db.query(sql.saveProgrammeHistory(sourceId, asOf, figures, runId));
  }

  async listProgrammeHistory(
    from: Date,
    to: Date,
    sourceId?: string,
  ): Promise<{ sourceId: string; asOf: string; figures: unknown }[]> {
    const rows = await this.db.query(sql.listProgrammeHistory(sourceId ?? null, from, to));
    return rows.map((r) => ({ sourceId: String(r.source_id), asOf: String(r.as_of), figures: r.figures }));
  }

  /** True for the one instance that claims this scheduled tick of the source. */
  async claimSlot(sourceId: string, slot: Date, instance: string): Promise<boolean> {
    return (await this.db.query(sql.claimSlot(sourceId, slot, instance))).length === 1;
  }

  // ── recomputation ──
  async patientsToRecompute(sourceId: string, asOf: Date): Promise<string[]> {
    const rows = await this.db.query(sql.patientsToRecompute(sourceId, asOf));
    return rows.map((r) => String(r.patient_id));
  }

  /**
   * Refreshes the planner's statistics of the tables a sync grows. Without them, after a first load
   * the per-page lookup of stored versions took ~130 ms instead of <1 ms (10,000 patients, PostgreSQL
   * with autovacuum off; PGlite has no autovacuum at all).
   */
  async analyze(tables: readonly (typeof sql.ANALYZED_TABLES)[number][] = sql.ANALYZED_TABLES): Promise<void> {
    for (const t of tables) await this.db.query(sql.analyze(t));
  }

  /** Clears the pending mark of patients whose computation commits in the same transaction. */
  async markPatientsComputed(sourceId: string, patientIds: string[]): Promise<void> {
    for (const batch of chunks(patientIds, BATCH_ROWS)) await this.db.query(sql.markPatientsComputed(sourceId, batch));
  }

  /** Stored resources of some patients, grouped by patient. */
  async resourcesOfPatients(sourceId: string, patientIds: string[]): Promise<Map<string, Record<string, unknown>[]>> {
    const out = new Map<string, Record<string, unknown>[]>();
    if (patientIds.length === 0) return out;
    const rows = await this.db.query(sql.resourcesOfPatients(sourceId, patientIds));
    for (const r of rows) {
      const p = String(r.patient_id);
      let list = out.get(p);
      if (!list) out.set(p, (list = []));
      list.push(r.resource as Record<string, unknown>);
    }
    return out;
  }

  async resourcesOfType(sourceId: string, resourceType: string): Promise<Record<string, unknown>[]> {
    const rows = await this.db.query(sql.resourcesOfType(sourceId, resourceType));
    return rows.map((r) => r.resource as Record<string, unknown>);
  }

  async saveComputation(
    sourceId: string,
    patientId: string,
    model: unknown,
    indicators: unknown,
    asOf: Date,
    runId: string | null,
  ): Promise<void> {
    await this.saveComputations(sourceId, [{ patientId, model, indicators }], asOf, runId);
  }

  /** Many patients' models and indicators (no longer pending): two statements per BATCH_ROWS patients. Call inside a transaction. */
  async saveComputations(
    sourceId: string,
    items: { patientId: string; model: unknown; indicators: unknown }[],
    asOf: Date,
    runId: string | null,
  ): Promise<void> {
    for (const batch of chunks(items, BATCH_ROWS)) {
      await this.db.query(sql.saveComputations(sourceId, batch, asOf, runId));
      await this.db.query(
        sql.markPatientsComputed(
          sourceId,
          batch.map((i) => i.patientId),
        ),
      );
    }
  }

  async getComputations(
    patientId: string,
    sourceId?: string,
  ): Promise<{ sourceId: string; patientId: string; indicators: unknown; computedAsOf: Date | null }[]> {
    const rows = await this.db.query(sql.getComputations(patientId, sourceId ?? null));
    return rows.map((r) => ({
      sourceId: String(r.source_id),
      patientId: String(r.patient_id),
      indicators: r.indicators,
      computedAsOf: dateOrNull(r.computed_as_of),
    }));
  }

  async listComputations(
    sourceId?: string,
  ): Promise<{ sourceId: string; patientId: string; indicators: unknown; computedAsOf: Date | null }[]> {
    const rows = await this.db.query(sql.listComputations(sourceId ?? null));
    return rows.map((r) => ({
      sourceId: String(r.source_id),
      patientId: String(r.patient_id),
      indicators: r.indicators,
      computedAsOf: dateOrNull(r.computed_as_of),
    }));
  }

  // ── engagement model and indicators ──
  /** Records indicator values that differ from the latest stored ones; returns the names recorded. */
  async recordIndicators(
    sourceId: string,
    patientId: string,
    asOf: Date,
    runId: string | null,
    values: IndicatorValue[],
  ): Promise<string[]> {
    return (await this.recordIndicatorsMany(sourceId, asOf, runId, [{ patientId, values }])).map((r) => r.indicator);
  }

  /** The same for many patients at once: one statement per BATCH_ROWS values. Returns what was recorded. */
  async recordIndicatorsMany(
    sourceId: string,
    asOf: Date,
    runId: string | null,
    items: { patientId: string; values: IndicatorValue[] }[],
  ): Promise<{ patientId: string; indicator: string }[]> {
    const flat = items.flatMap((i) =>
      i.values.map((v) => ({
        patientId: i.patientId,
        indicator: v.indicator,
        value: v.value,
        valueHash: contentHash(v.value),
      })),
    );
    const out: { patientId: string; indicator: string }[] = [];
    for (const batch of chunks(flat, BATCH_ROWS)) {
      for (const r of await this.db.query(sql.recordIndicators(sourceId, asOf, runId, batch)))
        out.push({ patientId: String(r.patient_id), indicator: String(r.indicator) });
    }
    return out;
  }

  async indicatorHistory(options: {
    patientId: string;
    sourceId?: string;
    indicator?: string;
    from?: Date;
    to?: Date;
  }): Promise<IndicatorRecord[]> {
    const rows = await this.db.query(
      sql.indicatorHistory(
        options.sourceId ?? null,
        options.patientId,
        options.indicator ?? null,
        options.from ?? null,
        options.to ?? null,
      ),
    );
    return rows.map((r) => ({
      id: Number(r.id),
      sourceId: String(r.source_id),
      patientId: String(r.patient_id),
      indicator: String(r.indicator),
      value: r.value,
      asOf: date(r.as_of),
      runId: str(r.run_id),
      recordedAt: date(r.recorded_at),
    }));
  }
}
