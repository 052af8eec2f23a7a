/**
 * A broken or hostile FHIR server, served for real on loopback: links and redirects to another
 * origin, oversized and compressed-bomb bodies, pages far larger than asked, next links that loop,
 * Retry-After: 0. A second server stands for "another host" and counts every request and every
 * Authorization header it receives.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { Bundle } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config/load';
import { pullSource } from '../../src/fhir/pull';
import { syncSource } from '../../src/sync/run';
import { createSourceClient, newTransportStats } from '../../src/fhir/source-client';
import type { SourceConfig } from '../../src/config/types';
import type { TransportEvent } from '../../src/fhir/transport';
import type { Store } from '../../src/store/store';
import { sharedValidator } from '../../src/validation/validator';
import { memoryStore } from '../helpers/store';
import { testSource } from '../helpers/source';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Listening {
  url: string;
  requests: number;
  authorizations: number;
  handle: Handler;
  close: () => Promise<void>;
}

async function listen(): Promise<Listening> {
  const state: Listening = {
    url: '',
    requests: 0,
    authorizations: 0,
    handle: (_q, r) => r.end(),
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    state.requests++;
    if (req.headers.authorization) state.authorizations++;
    state.handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}

const patient = (id: string) => ({
  resourceType: 'Patient',
  id,
  meta: { versionId: '1', lastUpdated: '2026-05-01T10:00:00Z' },
});
const bundle = (ids: string[], next?: string): Bundle => ({
  resourceType: 'Bundle',
  type: 'searchset',
  entry: ids.map((id) => ({ resource: patient(id) as never })),
  link: next ? [{ relation: 'next', url: next }] : [],
});

function json(res: http.ServerResponse, body: unknown, status = 200, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/fhir+json', ...headers });
  res.end(JSON.stringify(body));
}

let emr: Listening;
let foreign: Listening;
let store: Store;
let n = 0;

beforeAll(async () => {
  emr = await listen();
  foreign = await listen();
  store = await memoryStore();
});
afterAll(async () => {
  await emr.close();
  await foreign.close();
  await store.close();
});
beforeEach(() => {
  foreign.requests = 0;
  foreign.authorizations = 0;
  emr.requests = 0;
  emr.authorizations = 0;
  foreign.handle = (_req, res) => json(res, bundle(['stolen1', 'stolen2']));
});

async function pull(overrides: Partial<SourceConfig> = {}, onEvent?: (e: TransportEvent) => void) {
  const source = testSource({
    id: `h${++n}`,
    baseUrl: `${emr.url}/fhir`,
    resourceTypes: ['Patient'],
    auth: { type: 'bearer', token: 'secret-token' },
    maxRetries: 5,
    ...overrides,
  });
  const stats = newTransportStats();
  const report = await pullSource({
    source,
    store,
    client: createSourceClient(source, stats, { onEvent }),
    validator: sharedValidator(),
    runId: `r${n}`,
    transportStats: stats,
  });
  return { report, type: report.types[0], stored: (await store.countResources(source.id)).Patient ?? 0, source };
}

describe('URLs from the server are checked against the source origin', () => {
  test('a next link to another origin is refused: no request and no token reaches it, the search fails naming the origin, and nothing of it is stored', async () => {
    emr.handle = (_req, res) => json(res, bundle(['p1'], `${foreign.url}/fhir/Patient?page=2`));
    const { type, stored } = await pull();
    expect(type?.status).toBe('failed');
    expect(type?.error).toContain(`its origin ${foreign.url} is not the source's (${emr.url})`);
    expect(foreign.requests).toBe(0);
    // Refused before the page (and the link as its checkpoint) is stored: a resumed run never starts from it.
    expect(stored).toBe(0);
    expect(await store.getCheckpoint(`h${n}`, 'Patient')).toBeUndefined();
    expect(await store.getWatermark(`h${n}`, 'Patient')).toBeUndefined();
  });

  test('a redirect to another origin is refused the same way', async () => {
    emr.handle = (_req, res) => {
      res.writeHead(302, { location: `${foreign.url}/elsewhere` });
      res.end();
    };
    const { type } = await pull();
    expect(type?.status).toBe('failed');
    expect(type?.error).toContain(`its origin ${foreign.url}`);
    expect(foreign.requests).toBe(0);
  });

  test('an origin listed in allowedOrigins is followed, but the access token does not go there', async () => {
    emr.handle = (_req, res) => json(res, bundle(['p1'], `${foreign.url}/fhir/Patient?page=2`));
    const { type, stored } = await pull({ allowedOrigins: [foreign.url] });
    expect(type).toMatchObject({ status: 'ok', new: 3 });
    expect(stored).toBe(3);
    expect(foreign.requests).toBe(1);
    expect(foreign.authorizations).toBe(0);
    expect(emr.authorizations).toBe(emr.requests);
  });

  test('a redirect within the source origin is followed with the token', async () => {
    emr.handle = (req, res) => {
      if (req.url?.startsWith('/fhir/Patient?')) {
        res.writeHead(307, { location: '/moved/Patient' });
        res.end();
      } else json(res, bundle(['p1']));
    };
    const { type } = await pull();
    expect(type).toMatchObject({ status: 'ok', new: 1 });
    expect(emr.authorizations).toBe(2);
  });

  test('a SMART token endpoint discovered on another origin is refused unless listed or configured', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'fe-key-')), 'key.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    emr.handle = (_req, res) =>
      json(res, { token_endpoint: `${foreign.url}/token` }, 200, { 'content-type': 'application/json' });
    const auth = {
      type: 'smart-backend' as const,
      clientId: 'c',
      keyFile,
      algorithm: 'RS384' as const,
      scope: 'system/*.read',
    };
    const refused = await pull({ auth }).then(
      (r) => JSON.stringify(r.report),
      (err: Error) => err.message,
    );
    expect(refused).toContain(`its origin ${foreign.url} is not the source's`);
    expect(foreign.requests).toBe(0);
    // Listed: the token request goes there (and is answered, here, with a refusal).
    foreign.handle = (_req, res) => json(res, { error: 'invalid_client' }, 401, { 'content-type': 'application/json' });
    const listed = await pull({ auth, allowedOrigins: [foreign.url] }).then(
      (r) => JSON.stringify(r.report),
      (err: Error) => err.message,
    );
    expect(listed).toContain('invalid_client');
    expect(foreign.requests).toBe(1);
  });
});

describe('what a server sends is bounded', () => {
  test('a page larger than limits.maxResponseMB is refused while it streams, and not fetched again', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    emr.handle = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      const push = (): void => {
        while (sent < 200) {
          sent++;
          if (!res.write(chunk)) return void res.once('drain', push);
        }
        res.end();
      };
      res.on('error', () => undefined);
      push();
    };
    const { type } = await pull({ limits: { maxResponseMB: 2 } });
    expect(type?.status).toBe('failed');
    expect(type?.error).toContain('passed 2097152 bytes (limits.maxResponseMB)');
    expect(emr.requests).toBe(1);
    expect(sent).toBeLessThan(200);
  });

  test('a gzip bomb is refused once it inflates past limits.maxInflationRatio', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    emr.handle = (_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/fhir+json',
        'content-encoding': 'gzip',
        'content-length': String(bomb.length),
      });
      res.end(bomb);
    };
    const { type } = await pull();
    expect(type?.status).toBe('failed');
    expect(type?.error).toMatch(/\d+ gzip bytes inflated past 100 times their size \(limits\.maxInflationRatio\)/);
    expect(emr.requests).toBe(1);
  });

  test('a page with far more entries than _count asked is refused; nothing of it is stored', async () => {
    emr.handle = (_req, res) => json(res, bundle(Array.from({ length: 1001 }, (_, i) => `p${i}`)));
    const { type, stored } = await pull();
    expect(type?.status).toBe('failed');
    expect(type?.error).toContain(
      'page 1 holds 1001 entries for _count=100 (more than limits.maxEntriesPerPage × pageSize = 1000)',
    );
    expect(stored).toBe(0);
  });

  test('a next link equal to a page already followed stops the search at once as a cycle', async () => {
    emr.handle = (req, res) => json(res, bundle([`p${emr.requests}`], `${emr.url}${req.url}`));
    const { type } = await pull();
    expect(type?.status).toBe('failed');
    expect(type?.error).toContain('repeats a page of this search (a cycle)');
    expect(emr.requests).toBeLessThanOrEqual(2);
  });

  test('a search is stopped after limits.maxPagesPerSearch pages', async () => {
    emr.handle = (_req, res) =>
      json(res, bundle([`p${emr.requests}`], `${emr.url}/fhir/Patient?page=${emr.requests + 1}`));
    const { type } = await pull({ limits: { maxPagesPerSearch: 5 } });
    expect(type?.status).toBe('failed');
    expect(type?.error).toContain('passed 5 pages (limits.maxPagesPerSearch)');
    expect(emr.requests).toBeLessThanOrEqual(6);
  });

  test('Retry-After: 0 is waited for at least the retry floor', async () => {
    emr.handle = (_req, res) => {
      if (emr.requests <= 2) json(res, { resourceType: 'OperationOutcome', issue: [] }, 429, { 'retry-after': '0' });
      else json(res, bundle(['p1']));
    };
    const delays: number[] = [];
    const started = Date.now();
    const { type } = await pull({}, (e) => {
      if (e.type === 'retry') delays.push(e.delayMs);
    });
    expect(type?.status).toBe('ok');
    expect(delays).toEqual([250, 250]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
  });
});

/** A server that offers Patient search (with _lastUpdated) and nothing else. */
const PATIENT_ONLY_CAPABILITIES = {
  resourceType: 'CapabilityStatement',
  status: 'active',
  kind: 'instance',
  fhirVersion: '4.0.1',
  format: ['json'],
  date: '2026-01-01',
  rest: [
    {
      mode: 'server',
      resource: [
        {
          type: 'Patient',
          interaction: [{ code: 'search-type' }],
          searchParam: [{ name: '_lastUpdated', type: 'date' }],
        },
      ],
    },
  ],
};

describe('a run deadline', () => {
  test('a run still pulling at limits.runDeadlineMinutes ends failed naming its stage, the lock is released and the next run succeeds', async () => {
    // A server that drips an endless search, one distinct page every 50 ms.
    emr.handle = (req, res) => {
      if (req.url?.startsWith('/fhir/metadata')) return json(res, PATIENT_ONLY_CAPABILITIES);
      setTimeout(() => json(res, bundle([`p${emr.requests}`], `${emr.url}/fhir/Patient?page=${emr.requests + 1}`)), 50);
    };
    const config = loadConfig({ env: {}, cwd: os.tmpdir() });
    const source = testSource({
      id: 'deadline',
      baseUrl: `${emr.url}/fhir`,
      resourceTypes: ['Patient'],
      writeBack: false,
      limits: { runDeadlineMinutes: 0.05 },
    });
    const started = Date.now();
    const summary = await syncSource(store, config, source, { asOf: new Date('2026-06-01T00:00:00Z') });
    expect(summary.status).toBe('failed');
    // 3 s: past start-up on a busy machine, so the deadline falls while the endless search is pulled.
    expect(summary.error).toContain(
      'the run passed its deadline of 0.05 minute(s) (limits.runDeadlineMinutes) during the pull of Patient',
    );
    expect(Date.now() - started).toBeLessThan(15_000);
    expect((await store.getRun(summary.runId))?.status).toBe('failed');
    // The lock is free and the stored pages are kept: the next run (a server that ends) succeeds.
    const storedBefore = (await store.countResources('deadline')).Patient ?? 0;
    expect(storedBefore).toBeGreaterThan(0);
    emr.handle = (req, res) =>
      req.url?.startsWith('/fhir/metadata') ? json(res, PATIENT_ONLY_CAPABILITIES) : json(res, bundle(['last']));
    const next = await syncSource(store, config, { ...source, limits: {} }, { asOf: new Date('2026-06-01T00:00:00Z') });
    expect(next.status).toBe('succeeded');
  });
});
