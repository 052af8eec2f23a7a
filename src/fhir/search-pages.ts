/**
 * One search followed from its first URL to its last page, storing each page, with a checkpoint
 * when `checkpointed`. Several pages are at work at once: page N+2 is fetched and N+1 validated and
 * hashed while the statements of pages N and N−1 run (PostgreSQL stores two pages on two
 * connections; PGlite takes them in turn). Pages are counted and announced in order, and a
 * checkpoint never runs ahead of a stored page: a page's statement carries its own checkpoint only
 * when no page before it is still in flight, else the checkpoint of the last page known stored
 * (checkpoints only move forward, see the store's saveCheckpoint). A crash costs at most the pages in
 * flight or fetched ahead, which the resumed run pulls again and skips by version.
 */
import type { Bundle } from '@medplum/fhirtypes';
import { sourceLimits } from '../config/types';
import type { BatchWriter, PreparedBatch, WrittenBatch } from './batch-writer';
import type { PullContext, TypeReport } from './pull-context';
import { Interrupted, searchStopped } from './pull-errors';

/** Page statements in flight at once in a search: two, so that PostgreSQL works on one while it commits the other. */
const PAGES_IN_FLIGHT = 2;

/** Where a search resumes: its next link, and what the pages before it found. */
export interface PagesCheckpoint {
  kind: 'pages';
  nextUrl: string;
  since?: string;
  maxLastUpdated?: string;
  pages: number;
}

interface InFlight {
  prepared: PreparedBatch;
  write: Promise<WrittenBatch>;
  after: PagesCheckpoint | undefined;
}

function nextLink(bundle: Bundle): string | undefined {
  return bundle.link?.find((l) => l.relation === 'next')?.url;
}

/** Follows next links from `url` to the end; returns the greatest meta.lastUpdated seen. */
export function followPages(
  ctx: PullContext,
  writer: BatchWriter,
  report: TypeReport,
  url: string,
  state: { maxLastUpdated?: string; since?: string },
  checkpointed: boolean,
): Promise<string | undefined> {
  return new SearchPages(ctx, writer, report, url, state, checkpointed).run();
}

class SearchPages {
  private maxLastUpdated: string | undefined;
  /** Links followed in this search: one seen again is a cycle (a server looped 892 times in 90 s). */
  private readonly followed: Set<string>;
  private readonly limits;
  private ahead: Promise<Bundle> | undefined;
  private readonly inFlight: InFlight[] = [];
  /** The checkpoint after the last page known stored, and how many pages the stored checkpoint covers. */
  private stored: PagesCheckpoint | undefined;
  private persistedPages = 0;
  private pageNo = 0;

  constructor(
    private readonly ctx: PullContext,
    private readonly writer: BatchWriter,
    private readonly report: TypeReport,
    private readonly url: string,
    private readonly state: { maxLastUpdated?: string; since?: string },
    private readonly checkpointed: boolean,
  ) {
    this.maxLastUpdated = state.maxLastUpdated;
    this.followed = new Set([url]);
    this.limits = sourceLimits(ctx.source);
  }

  async run(): Promise<string | undefined> {
    this.checkAbort();
    this.ahead = this.fetchPage(this.url);
    try {
      // The first page is stored before the second is asked for: validating it compiles the type's schema
      // (a second of CPU), which must not hold up a request in flight until it times out.
      const next = await this.page(true);
      await this.settleOldest();
      if (next) {
        this.checkAbort();
        this.ahead = this.fetchPage(next);
      }
      while (this.ahead) await this.page(false);
      while (this.inFlight.length) await this.settleOldest();
    } catch (err) {
      await this.abandon();
      throw err;
    }
    return this.maxLastUpdated;
  }

  private checkAbort(): void {
    if (this.ctx.signal?.aborted) throw new Interrupted('interrupted');
  }

  private fetchPage(u: string): Promise<Bundle> {
    const p = this.ctx.client.getBundle(u);
    p.catch(() => undefined); // awaited later; a page never awaited (stop, crash) must not be an unhandled rejection
    return p;
  }

  /** The page fetched ahead: checked, its next page asked for (unless first), prepared and its write started. */
  private async page(first: boolean): Promise<string | undefined> {
    const fetchStart = performance.now();
    const bundle: Bundle = await (this.ahead as Promise<Bundle>);
    this.report.timings.fetchMs += performance.now() - fetchStart;
    this.pageNo++;
    this.checkSize(bundle);
    const next = this.follow(nextLink(bundle));
    this.ahead = next && !first && !this.ctx.signal?.aborted ? this.fetchPage(next) : undefined;
    const prepared = await this.writer.prepare(this.report, bundle.entry ?? [], this.maxLastUpdated);
    while (this.inFlight.length >= PAGES_IN_FLIGHT) await this.settleOldest();
    this.checkAbort();
    this.maxLastUpdated = prepared.maxLastUpdated;
    const after: PagesCheckpoint | undefined =
      this.checkpointed && next
        ? {
            kind: 'pages',
            nextUrl: next,
            since: this.state.since,
            maxLastUpdated: this.maxLastUpdated,
            pages: this.report.pages + this.inFlight.length + 1,
          }
        : undefined;
    const carried =
      this.inFlight.length === 0
        ? after
        : this.stored && this.stored.pages > this.persistedPages
          ? this.stored
          : undefined;
    if (carried) this.persistedPages = carried.pages;
    const write = this.writer.write(this.report, prepared, carried ? { checkpoint: carried } : {});
    write.catch(() => undefined); // awaited in order by settleOldest
    this.inFlight.push({ prepared, write, after });
    return next;
  }

  private checkSize(bundle: Bundle): void {
    const entryCount = bundle.entry?.length ?? 0;
    const maxEntries = this.ctx.source.pageSize * this.limits.maxEntriesPerPage;
    if (entryCount > maxEntries) {
      throw searchStopped(
        this.url,
        `page ${this.pageNo} holds ${entryCount} entries for _count=${this.ctx.source.pageSize} (more than limits.maxEntriesPerPage × pageSize = ${maxEntries}); nothing of it is stored`,
      );
    }
  }

  /** The next link, checked: its origin, cycles, and the page limit. */
  private follow(next: string | undefined): string | undefined {
    if (!next) return undefined;
    // Checked before the link is saved as the search's checkpoint: a resumed run must never start from a refused URL.
    this.ctx.client.origins.check(next);
    if (this.followed.has(next))
      throw searchStopped(
        next,
        `the server's next link after page ${this.pageNo} repeats a page of this search (a cycle); the search is stopped`,
      );
    if (this.followed.size >= this.limits.maxPagesPerSearch)
      throw searchStopped(next, `the search passed ${this.limits.maxPagesPerSearch} pages (limits.maxPagesPerSearch)`);
    this.followed.add(next);
    return next;
  }

  private async settleOldest(): Promise<void> {
    const oldest = this.inFlight[0] as InFlight;
    const written = await oldest.write;
    this.inFlight.shift();
    if (oldest.after) this.stored = oldest.after;
    await this.writer.account(this.report, oldest.prepared, written);
  }

  /**
   * Nothing is left in flight when the pull gives up: the page fetched ahead and the statements
   * under way are let finish, and the pages they stored are counted (a search started again after
   * an expired link finds them stored: reported as new now, not as unchanged then).
   */
  private async abandon(): Promise<void> {
    await this.ahead?.catch(() => undefined);
    for (const f of this.inFlight) {
      try {
        await this.writer.account(this.report, f.prepared, await f.write);
      } catch {
        // Not stored, or the test hook's simulated crash again: the first error is the one reported.
      }
    }
  }
}
