/**
 * A hostile or broken EMR (issue 24): each case is the sandbox with one misbehaviour, synced in this
 * process against a fresh embedded store, with a second server standing for "another host" that
 * counts every request and every Authorization header it receives. Each case reports what the run
 * did, the peak memory above the process's before it, how long it took, and whether the next run
 * (the EMR behaving again) succeeds: the source is never stopped for ever.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { loadConfig } from '../../src/config/load';
import { DEFAULT_PULL, type SourceConfig } from '../../src/config/types';
import type { Quirks } from '../../src/sandbox/quirks';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import type { SyncSummary } from '../../src/sync/events';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

const TOKEN = 'hostile-case-token';
const AS_OF = new Date(TEST_ANCHOR);
/** Peak memory a case may add to the process (the default 64 MB response bound, its copy and the parse). */
export const RSS_BOUND_MB = 320;

export interface HostileCase {
  name: string;
  /** What the EMR does, in words. */
  does: string;
  status: string;
  /** What fhir-engage said or did about it (the type's error, the dead letter's path, the figures). */
  answer: string;
  foreignRequests: number;
  foreignTokens: number;
  peakRssMb: number;
  /** The process's peak resident size during the run (sandbox, store and client together). */
  peakRssAbsoluteMb: number;
  seconds: number;
  nextRun: string;
  /** Every check of the case held. */
  ok: boolean;
  failed: string[];
}

interface Foreign {
  origin: string;
  requests: number;
  tokens: number;
  close: () => Promise<void>;
}

async function foreignHost(): Promise<Foreign> {
  const state: Foreign = { origin: '', requests: 0, tokens: 0, close: () => Promise.resolve() };
  const server = http.createServer((req, res) => {
    state.requests++;
    if (req.headers.authorization) state.tokens++;
    res.writeHead(200, { 'content-type': 'application/fhir+json' });
    res.end(
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'searchset',
        entry: [{ resource: { resourceType: 'Patient', id: 'planted' } }],
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}

/** Peak resident memory while `fn` runs, above what it was before (MB). */
async function peakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakMb: number; absoluteMb: number }> {
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, peakMb: Math.round((peak - before) / (1024 * 1024)), absoluteMb: Math.round(peak / (1024 * 1024)) };
  } finally {
    clearInterval(timer);
  }
}

interface CaseSpec {
  name: string;
  does: string;
  quirks: (foreign: string) => Quirks;
  patients?: number;
  source?: Partial<SourceConfig>;
  /** Checks on the hostile run; each returns a failure text or undefined. */
  check: (ctx: {
    run: SyncSummary;
    store: Store;
    emr: SandboxServer;
    foreign: Foreign;
    again: () => Promise<SyncSummary>;
  }) => Promise<{ answer: string; failures: (string | undefined)[] }>;
  /** The next run is expected to succeed once the EMR behaves (default), or only to be not failed. */
  nextMay?: string[];
}

const type = (run: SyncSummary, t = 'Patient') => run.pull.find((p) => p.resourceType === t);
const expect = (ok: boolean, text: string): string | undefined => (ok ? undefined : text);

async function badResourceCase(
  run: SyncSummary,
  store: Store,
  emr: SandboxServer,
  path: RegExp,
): Promise<{ answer: string; failures: (string | undefined)[] }> {
  const p = type(run);
  const served = emr.repo.all('Patient').length;
  const stored = (await store.countResources('hostile')).Patient ?? 0;
  const letters = await store.listDeadLetters({ sourceId: 'hostile', resourceType: 'Patient' });
  const where = letters[0]?.outcome.issue[0]?.expression?.[0] ?? '';
  return {
    answer: `Patient ${p?.status}: ${stored} stored + ${letters.length} dead letters = ${served} served; the dead letter names ${where.length > 60 ? `${where.slice(0, 60)}…` : where}`,
    failures: [
      expect(p?.status === 'ok', `Patient ${p?.status}: ${p?.error ?? ''}`),
      expect(letters.length === p?.pages && letters.length > 0, `${letters.length} dead letters for ${p?.pages} pages`),
      expect(
        stored + letters.length === served,
        `${stored} stored + ${letters.length} dead letters ≠ ${served} served`,
      ),
      expect(
        letters.every((d) => path.test(d.outcome.issue[0]?.expression?.[0] ?? '')),
        `a dead letter does not name its path (${where})`,
      ),
      expect((await store.getWatermark('hostile', 'Patient')) !== undefined, 'the Patient watermark did not move'),
    ],
  };
}

function refusedCase(
  run: SyncSummary,
  foreign: Foreign,
  says: RegExp,
  t = 'Patient',
): { answer: string; failures: (string | undefined)[] } {
  const p = type(run, t);
  return {
    answer: `${t} ${p?.status}: ${(p?.error ?? '').replace(/\|/g, '/').slice(0, 200)}`,
    failures: [
      expect(p?.status === 'failed', `${t} ${p?.status}`),
      expect(says.test(p?.error ?? ''), `the error does not say ${says}: ${p?.error ?? ''}`),
      expect(foreign.requests === 0, `${foreign.requests} request(s) reached the other host`),
    ],
  };
}

const CASES: CaseSpec[] = [
  {
    name: 'a NUL in a string',
    does: 'the first Patient of every page carries a string with \\u0000',
    quirks: () => ({ badStringsIn: 'Patient' }),
    source: { pageSize: 10 },
    check: ({ run, store, emr }) => badResourceCase(run, store, emr, /^Patient\.extension\[\d+\]\.valueString$/),
  },
  {
    name: 'extensions nested 500 deep',
    does: 'the first Patient of every page carries extensions nested 500 levels',
    quirks: () => ({ deepNestingIn: 'Patient' }),
    source: { pageSize: 10 },
    check: ({ run, store, emr }) => badResourceCase(run, store, emr, /^Patient\.extension\[\d+\]\.extension\[0\]/),
  },
  {
    name: 'a next link to another host',
    does: "next links name another host's origin",
    quirks: (foreign) => ({ foreignNextLinkOrigin: foreign }),
    source: { pageSize: 10 },
    check: async ({ run, foreign }) =>
      refusedCase(run, foreign, /its origin http:\/\/127\.0\.0\.1:\d+ is not the source's/),
  },
  {
    name: 'Bulk Data files on another host',
    does: "the export manifest's file URLs name another host's origin",
    quirks: (foreign) => ({ bulkFileOrigin: foreign }),
    source: { pull: { ...DEFAULT_PULL, method: 'bulk' } },
    check: async ({ run, foreign }) =>
      refusedCase(run, foreign, /its origin http:\/\/127\.0\.0\.1:\d+ is not the source's/),
  },
  {
    name: 'a 200 MB page',
    does: 'search answers padded to 200 MB',
    quirks: () => ({ oversizedPageMB: 200 }),
    check: async ({ run, foreign }) => refusedCase(run, foreign, /passed 67108864 bytes \(limits\.maxResponseMB\)/),
  },
  {
    name: 'a gzip bomb',
    does: 'search answers of ~1 MB gzip inflating to 1 GiB',
    quirks: () => ({ gzipBombMB: 1024 }),
    check: async ({ run, foreign }) => refusedCase(run, foreign, /limits\.(maxResponseMB|maxInflationRatio)/),
  },
  {
    name: 'pages far larger than asked',
    does: 'pages hold 100 times the _count asked',
    quirks: () => ({ pageOverflow: 100 }),
    patients: 150,
    source: { pageSize: 1 },
    check: async ({ run, foreign }) =>
      refusedCase(
        run,
        foreign,
        /holds \d+ entries for _count=1 \(more than limits\.maxEntriesPerPage × pageSize = 10\)/,
      ),
  },
  {
    name: 'a next link to itself',
    does: "every next link is the page's own URL",
    quirks: () => ({ selfLoopingNextLink: true }),
    source: { pageSize: 10 },
    check: async ({ run, foreign, emr }) => {
      const r = refusedCase(run, foreign, /repeats a page of this search \(a cycle\)/);
      // One request per type searched: the cycle is seen on the first page's own link.
      return {
        answer: `${r.answer} (${emr.counters().searches} searches served for ${run.pull.length} types)`,
        failures: [
          ...r.failures,
          expect(
            emr.counters().searches <= 2 * run.pull.length,
            `${emr.counters().searches} searches before it stopped`,
          ),
        ],
      };
    },
  },
  {
    name: 'Retry-After: 0',
    does: 'every 4th request answered 429 with Retry-After: 0',
    quirks: () => ({ retryAfterZeroEvery: 4 }),
    source: { pageSize: 10 },
    check: async ({ run, emr }) => {
      const retries = run.requests.retries;
      return {
        answer: `${run.status}: ${emr.counters().rateLimited} × 429 answered, ${retries} retries, each after at least 250 ms (run ${(run.durationMs / 1000).toFixed(1)} s)`,
        failures: [
          expect(
            run.pull.every((t) => t.status === 'ok'),
            'a type failed',
          ),
          expect(retries > 0, 'no retry happened'),
          expect(run.durationMs >= retries * 250, `${retries} retries in ${run.durationMs} ms: the floor was not kept`),
        ],
      };
    },
  },
  {
    name: 'a run past its deadline',
    does: 'every answer 150 ms late; limits.runDeadlineMinutes 0.05 (3 s)',
    quirks: () => ({ delayMs: 150 }),
    patients: 200,
    source: { pageSize: 5, limits: { runDeadlineMinutes: 0.05 } },
    check: async ({ run }) => ({
      answer: `${run.status} after ${(run.durationMs / 1000).toFixed(1)} s: ${(run.error ?? '').slice(0, 160)}`,
      failures: [
        expect(run.status === 'failed', run.status),
        expect(
          /passed its deadline of 0\.05 minute\(s\).*during the pull/.test(run.error ?? ''),
          `error: ${run.error ?? ''}`,
        ),
        expect(run.durationMs < 15_000, `${run.durationMs} ms`),
      ],
    }),
  },
  {
    name: 'Bulk Data error files',
    does: 'every 9th resource of the first export reported in an error file instead of the output',
    quirks: () => ({ bulkErrorEvery: 9, bulkErrorExports: 1 }),
    patients: 40,
    source: { pull: { ...DEFAULT_PULL, method: 'bulk' } },
    check: async ({ run }) => {
      const partial = run.pull.filter((t) => t.status === 'partial');
      return {
        answer: `${run.status}: ${partial.map((t) => `${t.resourceType} ${t.exportErrors} not exported, watermark kept`).join('; ')}`,
        failures: [
          expect(
            partial.length > 0 && partial.every((t) => (t.exportErrors ?? 0) > 0),
            'no type reported its export errors',
          ),
          expect(run.patients.recomputed === 0, 'patients were computed from incomplete data'),
        ],
      };
    },
  },
  {
    name: 'Bulk Data deleted entries',
    does: '3 Appointments deleted after a first export; the next (_since) export lists them in `deleted`',
    quirks: () => ({}),
    source: { pull: { ...DEFAULT_PULL, method: 'bulk' } },
    check: async ({ run, store, emr, again }) => {
      const gone = emr.repo
        .all('Appointment')
        .slice(0, 3)
        .map((a) => a.id as string);
      for (const id of gone) await emr.repo.deleteResource('Appointment', id);
      const second = await again();
      const appts = type(second, 'Appointment');
      const left = await store.listResourceIds('hostile', 'Appointment');
      const truth = emr.repo
        .all('Appointment')
        .map((a) => a.id as string)
        .sort();
      return {
        answer: `first ${run.status}; after the deletions ${second.status}: ${appts?.deleted ?? 0} deleted, ${left.length} stored = ${truth.length} on the server, ${second.patients.recomputed} patient(s) recomputed`,
        failures: [
          expect(appts?.deleted === 3, `${appts?.deleted} deleted`),
          expect(JSON.stringify(left) === JSON.stringify(truth), "the stored Appointments are not the server's"),
          expect(second.patients.recomputed > 0, 'no patient recomputed'),
        ],
      };
    },
  },
  {
    name: 'a type the server does not offer',
    does: 'CarePlan left out of the CapabilityStatement (a _type naming it is refused with 400)',
    quirks: () => ({ notOfferedTypes: ['CarePlan'] }),
    source: { pull: { ...DEFAULT_PULL, method: 'bulk' } },
    nextMay: ['succeeded'],
    check: async ({ run }) => ({
      answer: `CarePlan ${type(run, 'CarePlan')?.status}; ${run.pull
        .filter((t) => t.status === 'ok')
        .map((t) => t.resourceType)
        .join(', ')} exported`,
      failures: [
        expect(type(run, 'CarePlan')?.status === 'skipped', 'CarePlan not skipped'),
        expect(
          type(run, 'Patient')?.status === 'ok' && type(run, 'Appointment')?.status === 'ok',
          'the export of the offered types failed',
        ),
      ],
    }),
  },
  {
    name: 'transient errors while polling',
    does: 'the first 2 status polls answered 500 with an OperationOutcome of code transient',
    quirks: () => ({ bulkTransientPollErrors: 2 }),
    source: { pull: { ...DEFAULT_PULL, method: 'bulk' } },
    check: async ({ run }) => ({
      answer: `${run.status} (polling went on)`,
      failures: [
        expect(run.status === 'succeeded', `${run.status}: ${run.error ?? run.pull.map((t) => t.error).join(' ')}`),
      ],
    }),
  },
];

async function runCase(spec: CaseSpec): Promise<HostileCase> {
  const foreign = await foreignHost();
  const emr = await seededSandbox(
    { patients: spec.patients ?? 30, seed: 31, fixtures: false },
    {
      auth: { mode: 'bearer', token: TOKEN },
      quirks: spec.quirks(foreign.origin),
      bulk: { preparationMs: 0, retryAfterSeconds: 1 },
    },
  );
  const store = await memoryStore();
  try {
    const config = { ...loadConfig({ env: {}, cwd: os.tmpdir() }), sources: [] };
    const source = testSource(
      { id: 'hostile', baseUrl: emr.baseUrl, writeBack: false, maxRetries: 3, ...spec.source },
      { type: 'bearer', token: TOKEN },
    );
    const started = Date.now();
    const { value: run, peakMb, absoluteMb } = await peakRss(() => syncSource(store, config, source, { asOf: AS_OF }));
    const seconds = (Date.now() - started) / 1000;
    const { answer, failures } = await spec.check({
      run,
      store,
      emr,
      foreign,
      again: () => syncSource(store, config, source, { asOf: AS_OF }),
    });
    emr.setQuirks({});
    const next = await syncSource(store, config, { ...source, limits: {} }, { asOf: AS_OF });
    const failed = [
      ...failures.filter((f): f is string => f !== undefined),
      ...(foreign.tokens > 0 ? [`the access token reached the other host ${foreign.tokens} time(s)`] : []),
      ...(peakMb > RSS_BOUND_MB ? [`peak memory ${peakMb} MB above ${RSS_BOUND_MB} MB`] : []),
      ...((spec.nextMay ?? ['succeeded']).includes(next.status)
        ? []
        : [`the next run ${next.status}: ${next.error ?? next.pull.map((t) => t.error ?? '').join(' ')}`]),
    ];
    return {
      name: spec.name,
      does: spec.does,
      status: run.status,
      answer,
      foreignRequests: foreign.requests,
      foreignTokens: foreign.tokens,
      peakRssMb: peakMb,
      peakRssAbsoluteMb: absoluteMb,
      seconds,
      nextRun: next.status,
      ok: failed.length === 0,
      failed,
    };
  } finally {
    await store.close();
    await emr.close();
    await foreign.close();
  }
}

export async function hostileEmr(onCase?: (c: HostileCase) => void): Promise<HostileCase[]> {
  const out: HostileCase[] = [];
  for (const spec of CASES) {
    const c = await runCase(spec);
    onCase?.(c);
    out.push(c);
  }
  return out;
}
