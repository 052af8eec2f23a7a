/**
 * The sandbox's repository: Medplum's MemoryRepository (storage, versions,
 * history, conditional create, transactions through FhirRouter) plus indexes
 * it lacks, so that a search page costs time proportional to the page and not
 * to the data set:
 *
 * - per type, resources kept sorted by (meta.lastUpdated, id): `_lastUpdated`
 *   ranges are found by binary search and cursors resume where a page ended;
 * - per type, Patient reference → resources (`patient=`, `subject=`, `actor=`),
 *   accepting a bare id as real servers do (MemoryRepository matches only
 *   `Patient/123`);
 * - per type, identifier `system|value` → resources (conditional creates).
 *
 * Filtering still uses Medplum's `matchesSearchRequest`; a request sorted by
 * anything other than `_lastUpdated` falls back to MemoryRepository.search.
 */
import { matchesSearchRequest, Operator, type Filter, type SearchRequest, type WithId } from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import type { Bundle, Resource } from '@medplum/fhirtypes';

/** Where a resource names its patient, for the patient index. */
const PATIENT_REFERENCE_PATHS: ((r: Record<string, unknown>) => unknown)[] = [
  (r) => (r.subject as { reference?: string } | undefined)?.reference,
  (r) => (r.patient as { reference?: string } | undefined)?.reference,
  (r) => (r.for as { reference?: string } | undefined)?.reference,
  (r) => ((r.participant as { actor?: { reference?: string } }[] | undefined) ?? []).map((p) => p.actor?.reference),
];

/** Search parameters answered from the patient index when their value names a patient. */
const PATIENT_PARAMS = new Set(['patient', 'subject', 'actor']);

interface Entry {
  key: string;
  resource: WithId<Resource>;
}

interface TypeIndex {
  sorted: Entry[];
  keyOf: Map<string, string>;
  byPatient: Map<string, Set<string>>;
  byIdentifier: Map<string, Set<string>>;
}

/** Position after which a page resumes: the sort key of the last resource served. */
export type Cursor = string;

export interface PageResult {
  resources: WithId<Resource>[];
  /** Set when more results may follow; pass it back to get the next page. */
  next?: Cursor;
}

function sortKey(r: Resource): string {
  const t = Date.parse(r.meta?.lastUpdated ?? '');
  const iso = Number.isNaN(t) ? '0000-00-00T00:00:00.000Z' : new Date(t).toISOString();
  return `${iso}\u0000${r.id}`;
}

function patientRefs(r: Resource): string[] {
  const out = new Set<string>();
  if (r.resourceType === 'Patient' && r.id) {
    out.add(`Patient/${r.id}`);
  }
  for (const get of PATIENT_REFERENCE_PATHS) {
    const v = get(r as unknown as Record<string, unknown>);
    for (const ref of Array.isArray(v) ? v : [v]) {
      if (typeof ref === 'string' && ref.startsWith('Patient/')) out.add(ref);
    }
  }
  return [...out];
}

function identifierKeys(r: Resource): string[] {
  const ids = (r as { identifier?: { system?: string; value?: string }[] }).identifier;
  if (!Array.isArray(ids)) return [];
  return ids.filter((i) => i.value).map((i) => `${i.system ?? ''}|${i.value}`);
}

function lowerBound(entries: Entry[], key: string): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((entries[mid] as Entry).key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function addTo(map: Map<string, Set<string>>, key: string, id: string): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(id);
}

export class SandboxRepository extends MemoryRepository {
  private readonly indexes = new Map<string, TypeIndex>();
  /** Resources by type and id, as stored (MemoryRepository's own map is private). */
  private readonly current = new Map<string, Map<string, WithId<Resource>>>();
  private bulkLoading = false;
  /** Every deletion, in order (a real server keeps tombstones for its history and Bulk Data). */
  private readonly deletions: { resourceType: string; id: string; at: number }[] = [];

  /**
   * Creates many resources at once (seeding): indexes are sorted once at the
   * end rather than kept sorted on every insert. Resources must be new.
   */
  async createMany(resources: Iterable<Resource>): Promise<number> {
    this.bulkLoading = true;
    let n = 0;
    try {
      for (const r of resources) {
        await this.createResource(r);
        n++;
      }
    } finally {
      this.bulkLoading = false;
      for (const idx of this.indexes.values()) {
        idx.sorted.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      }
    }
    return n;
  }

  private typeIndex(type: string): TypeIndex {
    let idx = this.indexes.get(type);
    if (!idx) {
      idx = { sorted: [], keyOf: new Map(), byPatient: new Map(), byIdentifier: new Map() };
      this.indexes.set(type, idx);
    }
    return idx;
  }

  private unindex(type: string, id: string): void {
    if (this.bulkLoading && !this.current.get(type)?.has(id)) return;
    const idx = this.typeIndex(type);
    const key = idx.keyOf.get(id);
    const old = this.current.get(type)?.get(id);
    if (key !== undefined) {
      const pos = lowerBound(idx.sorted, key);
      if (idx.sorted[pos]?.key === key) idx.sorted.splice(pos, 1);
      idx.keyOf.delete(id);
    }
    if (old) {
      for (const ref of patientRefs(old)) idx.byPatient.get(ref)?.delete(id);
      for (const k of identifierKeys(old)) idx.byIdentifier.get(k)?.delete(id);
    }
    this.current.get(type)?.delete(id);
  }

  private reindex(resource: WithId<Resource>): void {
    const type = resource.resourceType;
    this.unindex(type, resource.id);
    const idx = this.typeIndex(type);
    const key = sortKey(resource);
    const entry = { key, resource };
    // Appends are the common case (resources arrive in time order): avoid the binary search.
    // During a bulk load the order is restored once at the end instead of per insert.
    const last = idx.sorted[idx.sorted.length - 1];
    if (this.bulkLoading || !last || last.key < key) idx.sorted.push(entry);
    else idx.sorted.splice(lowerBound(idx.sorted, key), 0, entry);
    idx.keyOf.set(resource.id, key);
    for (const ref of patientRefs(resource)) addTo(idx.byPatient, ref, resource.id);
    for (const k of identifierKeys(resource)) addTo(idx.byIdentifier, k, resource.id);
    let byId = this.current.get(type);
    if (!byId) {
      byId = new Map();
      this.current.set(type, byId);
    }
    byId.set(resource.id, resource);
  }

  override async createResource<T extends Resource>(resource: T): Promise<WithId<T>> {
    const created = await super.createResource(resource);
    this.reindex(created as WithId<Resource>);
    return created;
  }

  override async deleteResource(resourceType: string, id: string): Promise<void> {
    await super.deleteResource(resourceType, id);
    this.unindex(resourceType, id);
    this.deletions.push({ resourceType, id, at: Date.now() });
  }

  /** Resources deleted since `since` (ms), oldest first: what a `_since` Bulk Data export lists as deleted. */
  deletedSince(since: number, types: readonly string[]): { resourceType: string; id: string }[] {
    return this.deletions.filter((d) => d.at > since && types.includes(d.resourceType));
  }

  override clear(): void {
    super.clear();
    this.deletions.length = 0;
    this.indexes.clear();
    this.current.clear();
  }

  /** Number of resources of a type (or of every type). */
  count(type?: string): number {
    if (type) return this.current.get(type)?.size ?? 0;
    let n = 0;
    for (const m of this.current.values()) n += m.size;
    return n;
  }

  /** The stored resource itself (no copy): for the sandbox's own bookkeeping and tests. */
  peek(type: string, id: string): WithId<Resource> | undefined {
    return this.current.get(type)?.get(id);
  }

  /** Every stored resource of a type, in (lastUpdated, id) order. */
  all(type: string): WithId<Resource>[] {
    return (this.indexes.get(type)?.sorted ?? []).map((e) => e.resource);
  }

  /**
   * One page of results in (lastUpdated, id) order, starting after `cursor`.
   * Returns undefined when the request needs the generic path (other sorts).
   */
  searchPage(request: SearchRequest, count: number, cursor?: Cursor): PageResult | undefined {
    const sortRules = request.sortRules ?? [];
    if (sortRules.some((s) => s.code !== '_lastUpdated' || s.descending)) {
      return undefined;
    }
    const idx = this.typeIndex(request.resourceType);
    const remaining: Filter[] = [];
    let candidates: Set<string> | undefined;
    for (const f of request.filters ?? []) {
      const narrowed = this.indexedCandidates(request.resourceType, idx, f);
      if (narrowed) {
        candidates = candidates ? new Set([...candidates].filter((id) => narrowed.has(id))) : narrowed;
      } else {
        remaining.push(f);
      }
    }
    const rest: SearchRequest = { resourceType: request.resourceType, filters: remaining };
    const out: WithId<Resource>[] = [];
    if (candidates) {
      const entries = [...candidates]
        .map((id) => ({ key: idx.keyOf.get(id) as string, resource: this.current.get(request.resourceType)?.get(id) }))
        .filter((e): e is Entry => e.resource !== undefined && (cursor === undefined || e.key > cursor))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const e of entries) {
        if (!matchesSearchRequest(e.resource, rest)) continue;
        if (out.length === count) return { resources: out, next: idx.keyOf.get(out[out.length - 1]?.id as string) };
        out.push(e.resource);
      }
      return { resources: out };
    }
    let pos = cursor === undefined ? this.lowerBoundForLastUpdated(idx, remaining) : lowerBound(idx.sorted, cursor);
    if (cursor !== undefined && idx.sorted[pos]?.key === cursor) pos++;
    for (; pos < idx.sorted.length; pos++) {
      const e = idx.sorted[pos] as Entry;
      if (!matchesSearchRequest(e.resource, rest)) continue;
      if (out.length === count) return { resources: out, next: idx.keyOf.get(out[out.length - 1]?.id as string) };
      out.push(e.resource);
    }
    return { resources: out };
  }

  /** Number of resources matching a search (for `_summary=count` and `_total=accurate`), or undefined for sorts the indexes do not keep. */
  countMatches(request: SearchRequest): number | undefined {
    return this.searchPage(request, Number.MAX_SAFE_INTEGER)?.resources.length;
  }

  /** Start of the scan for `_lastUpdated=gt|ge…`: everything before cannot match. */
  private lowerBoundForLastUpdated(idx: TypeIndex, filters: Filter[]): number {
    let start = 0;
    for (const f of filters) {
      if (f.code !== '_lastUpdated') continue;
      if (
        f.operator !== Operator.GREATER_THAN &&
        f.operator !== Operator.GREATER_THAN_OR_EQUALS &&
        f.operator !== Operator.STARTS_AFTER
      )
        continue;
      const t = Date.parse(f.value);
      if (Number.isNaN(t)) continue;
      // Coarse bound: second precision values (gt2026-01-01T00:00:00Z) still match via the filter itself.
      start = Math.max(start, lowerBound(idx.sorted, new Date(t - 1000).toISOString()));
    }
    return start;
  }

  private indexedCandidates(type: string, idx: TypeIndex, f: Filter): Set<string> | undefined {
    if (f.code === '_id' && f.operator === Operator.EQUALS) {
      // `_id=a,b,c` (read by id in chunks): each id is a lookup.
      const current = this.current.get(type);
      return new Set(f.value.split(',').filter((id) => current?.has(id)));
    }
    if (f.operator !== Operator.EQUALS || f.value.includes(',')) {
      return undefined;
    }
    if (PATIENT_PARAMS.has(f.code)) {
      if (f.value.includes('/') && !f.value.startsWith('Patient/')) return undefined;
      const ref = f.value.startsWith('Patient/') ? f.value : `Patient/${f.value}`;
      return new Set(idx.byPatient.get(ref) ?? []);
    }
    if (f.code === 'identifier' && f.value.endsWith('|')) {
      // `system|` (system only): every resource with an identifier in that system.
      const out = new Set<string>();
      for (const [key, ids] of idx.byIdentifier) if (key.startsWith(f.value)) for (const id of ids) out.add(id);
      return out;
    }
    if (f.code === 'identifier' && f.value.includes('|')) {
      return new Set(idx.byIdentifier.get(f.value) ?? []);
    }
    return undefined;
  }

  /** Used by FhirRouter (conditional create, transactions, searches it routes itself). */
  override async search<T extends Resource>(request: SearchRequest<T>): Promise<Bundle<WithId<T>>> {
    const offset = request.offset ?? 0;
    const count = request.count ?? 20;
    const page = this.searchPage(request as SearchRequest, offset + count);
    if (!page) {
      return super.search(request);
    }
    const resources = page.resources.slice(offset) as WithId<T>[];
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      ...(resources.length > 0
        ? { entry: resources.map((resource) => ({ resource: structuredClone(resource) })) }
        : {}),
    };
  }
}
