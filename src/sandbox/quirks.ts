/**
 * Behaviours of real EMRs the sandbox can imitate, each counted when it fires
 * so that tests can assert on it.
 */
import type { BulkQuirks } from './bulk-export';
import { Random } from './random';

export interface Quirks extends BulkQuirks {
  /** Largest page served, whatever `_count` asks (Epic and Cerner cap pages). */
  maxPageSize?: number;
  /** Every Nth FHIR request is answered 429 with Retry-After. */
  rateLimitEvery?: number;
  retryAfterSeconds?: number;
  /** Fraction (0–1) of FHIR requests answered with a server error, chosen by a seeded RNG. */
  errorRate?: number;
  errorStatuses?: (500 | 502 | 503 | 504)[];
  /** Milliseconds added before each FHIR response. */
  delayMs?: number;
  /** Next links as opaque tokens (Cerner-style `-pageContext=…&-pageDirection=NEXT`) instead of readable cursors. */
  opaqueNextLinks?: boolean;
  /** Types whose search must name a patient (`patient=`/`subject=`); a system-wide search gets 400. */
  requirePatientFor?: string[];
  /**
   * No population search, as Epic: Patient needs _id, identifier or a name with birthdate; Appointment,
   * CarePlan, QuestionnaireResponse, Task and Observation need a patient. Group export is unaffected.
   */
  refusePopulationSearches?: boolean;
  /** Patients whose per-patient searches are refused with 403 (a restricted, break-the-glass record). */
  restrictedPatients?: string[];
  /** The Nth search request (1-based) gets a 200 with a truncated JSON body, once. */
  malformedJsonOnSearch?: number;
  /** Every Nth search request gets a 200 with a truncated JSON body (a proxy cutting responses). */
  malformedJsonEvery?: number;
  /** Every Nth opaque next link has expired when it is followed (400, as Cerner's page contexts do after a while). */
  expireNextLinksEvery?: number;
  /** The opaque next links followed at these positions (1-based, counted over the server's life) have expired. */
  expireNextLinksAt?: number[];
  /** Types whose CapabilityStatement entry leaves out `_lastUpdated`. */
  omitLastUpdatedFor?: string[];
  /**
   * A hostile or broken EMR (reliability suite): the first resource of every page of this type carries
   * a string with a NUL (`badStringsIn`) or extensions nested 500 deep (`deepNestingIn`).
   */
  badStringsIn?: string;
  deepNestingIn?: string;
  /** Next links name this origin instead of the sandbox's (a host that must never be asked). */
  foreignNextLinkOrigin?: string;
  /** Bulk Data manifest file URLs name this origin. */
  bulkFileOrigin?: string;
  /** Search answers are padded with whitespace to this many MB (streamed, never held whole). */
  oversizedPageMB?: number;
  /** Search answers are gzip bodies that inflate to this many MB of whitespace around the page. */
  gzipBombMB?: number;
  /** Pages hold this many times the `_count` asked. */
  pageOverflow?: number;
  /** Every next link is the page's own URL. */
  selfLoopingNextLink?: boolean;
  /** Every Nth request is answered 429 with `Retry-After: 0`. */
  retryAfterZeroEvery?: number;
  /** Types left out of the CapabilityStatement and not served (search 404; a Bulk Data `_type` naming one is refused with 400, as a conformant server does). */
  notOfferedTypes?: string[];
  /** Seed of the error-rate RNG. */
  seed?: number;
}

export interface QuirkCounters {
  requests: number;
  searches: number;
  rateLimited: number;
  serverErrors: number;
  delayed: number;
  cappedPages: number;
  opaqueLinks: number;
  refusedSystemSearch: number;
  refusedRestricted: number;
  malformedBodies: number;
  expiredLinks: number;
  /** Invalid resources seeded (see seed.ts); served ones are counted per search in `invalidServed`. */
  invalidSeeded: number;
  invalidServed: number;
  unauthorized: number;
  tokensIssued: number;
}

export function emptyCounters(): QuirkCounters {
  return {
    requests: 0,
    searches: 0,
    rateLimited: 0,
    serverErrors: 0,
    delayed: 0,
    cappedPages: 0,
    opaqueLinks: 0,
    refusedSystemSearch: 0,
    refusedRestricted: 0,
    malformedBodies: 0,
    expiredLinks: 0,
    invalidSeeded: 0,
    invalidServed: 0,
    unauthorized: 0,
    tokensIssued: 0,
  };
}

/** Live quirk state for one server: the settings, the counters, the RNG. */
export class QuirkState {
  counters: QuirkCounters = emptyCounters();
  private rng: Random;

  constructor(public quirks: Quirks = {}) {
    this.rng = new Random(quirks.seed ?? 1);
  }

  /** Replaces the quirks for the next run and resets the counters (seeded data counts are kept). */
  reset(quirks: Quirks): void {
    const invalidSeeded = this.counters.invalidSeeded;
    this.quirks = quirks;
    this.counters = { ...emptyCounters(), invalidSeeded };
    this.rng = new Random(quirks.seed ?? 1);
    this.linksFollowed = 0;
  }

  /** Status to answer instead of serving, if a quirk says so. Counts the request. */
  interceptStatus(): { status: number; retryAfter?: number } | undefined {
    const n = ++this.counters.requests;
    const q = this.quirks;
    if (q.retryAfterZeroEvery && n % q.retryAfterZeroEvery === 0) {
      this.counters.rateLimited++;
      return { status: 429, retryAfter: 0 };
    }
    if (q.rateLimitEvery && n % q.rateLimitEvery === 0) {
      this.counters.rateLimited++;
      return { status: 429, retryAfter: q.retryAfterSeconds ?? 1 };
    }
    if (q.errorRate && this.rng.next() < q.errorRate) {
      this.counters.serverErrors++;
      const statuses = q.errorStatuses?.length ? q.errorStatuses : [503];
      return { status: statuses[Math.floor(this.rng.next() * statuses.length)] as number };
    }
    return undefined;
  }

  /** True when this followed opaque link should be answered as expired. */
  takeExpired(): boolean {
    const every = this.quirks.expireNextLinksEvery;
    const at = this.quirks.expireNextLinksAt;
    if (!every && !at?.length) return false;
    this.linksFollowed = (this.linksFollowed ?? 0) + 1;
    if (!(every && this.linksFollowed % every === 0) && !at?.includes(this.linksFollowed)) return false;
    this.counters.expiredLinks++;
    return true;
  }

  private linksFollowed?: number;

  pageSize(requested: number): number {
    const cap = this.quirks.maxPageSize;
    if (cap && requested > cap) {
      this.counters.cappedPages++;
      return cap;
    }
    return requested;
  }

  /** True when this search should get a truncated body. */
  takeMalformed(): boolean {
    const n = ++this.counters.searches;
    if (
      this.quirks.malformedJsonOnSearch === n ||
      (this.quirks.malformedJsonEvery && n % this.quirks.malformedJsonEvery === 0)
    ) {
      this.counters.malformedBodies++;
      return true;
    }
    return false;
  }
}

/** Quirks whose value is a list, even when one item is given. */
const LIST_QUIRKS = new Set([
  'errorStatuses',
  'requirePatientFor',
  'omitLastUpdatedFor',
  'notOfferedTypes',
  'restrictedPatients',
  'expireNextLinksAt',
]);

export function parseQuirksArg(text: string): Quirks {
  // "maxPageSize=10,rateLimitEvery=5,requirePatientFor=Appointment+QuestionnaireResponse,opaqueNextLinks"
  const out: Record<string, unknown> = {};
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [key, raw] = part.split('=') as [string, string | undefined];
    if (raw === undefined) out[key] = true;
    else if (/^[\d.]+$/.test(raw)) out[key] = Number(raw);
    // A list of numbers (errorStatuses=502+503) stays numeric: a status sent as a string would become a 500.
    else out[key] = raw.split('+').map((v) => (/^\d+$/.test(v) ? Number(v) : v));
    if (LIST_QUIRKS.has(key) && !Array.isArray(out[key])) out[key] = [out[key]];
  }
  return out as Quirks;
}
